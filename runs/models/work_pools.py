from django.db import models

from .base import TimestampedModel


class ReadyStatus(models.TextChoices):
    READY = "READY"
    NOT_READY = "NOT_READY"
    PAUSED = "PAUSED"


class WorkPool(TimestampedModel):
    name = models.CharField(max_length=255, unique=True)
    description = models.TextField(null=True, blank=True)
    type = models.CharField(max_length=255, default="prefect-agent")
    base_job_template = models.JSONField(default=dict, blank=True)
    is_paused = models.BooleanField(default=False)
    concurrency_limit = models.IntegerField(null=True, blank=True)
    default_queue = models.ForeignKey(
        "runs.WorkQueue", null=True, blank=True, on_delete=models.SET_NULL, related_name="+", db_constraint=False
    )
    status = models.CharField(max_length=16, choices=ReadyStatus.choices, default=ReadyStatus.NOT_READY)
    storage_configuration = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.name


class WorkQueue(TimestampedModel):
    work_pool = models.ForeignKey(WorkPool, on_delete=models.CASCADE, related_name="queues")
    name = models.CharField(max_length=255)
    description = models.TextField(null=True, blank=True)
    is_paused = models.BooleanField(default=False)
    concurrency_limit = models.IntegerField(null=True, blank=True)
    priority = models.IntegerField(default=1)
    filter = models.JSONField(null=True, blank=True)
    last_polled = models.DateTimeField(null=True, blank=True)
    status = models.CharField(max_length=16, choices=ReadyStatus.choices, default=ReadyStatus.NOT_READY)

    class Meta:
        ordering = ["work_pool", "priority", "name"]
        constraints = [models.UniqueConstraint(fields=["work_pool", "name"], name="work_queue_name_per_pool")]

    def __str__(self):
        return f"{self.work_pool.name}/{self.name}"


class Worker(TimestampedModel):
    work_pool = models.ForeignKey(WorkPool, on_delete=models.CASCADE, related_name="workers")
    name = models.CharField(max_length=255)
    last_heartbeat_time = models.DateTimeField(null=True, blank=True)
    heartbeat_interval_seconds = models.IntegerField(null=True, blank=True)
    status = models.CharField(max_length=16, default="OFFLINE")  # ONLINE / OFFLINE

    class Meta:
        ordering = ["work_pool", "name"]
        constraints = [models.UniqueConstraint(fields=["work_pool", "name"], name="worker_name_per_pool")]
        indexes = [models.Index(fields=["work_pool", "-last_heartbeat_time"], name="worker_heartbeat")]

    def __str__(self):
        return self.name

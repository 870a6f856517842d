from django.db import models

from .base import TimestampedModel
from .work_pools import ReadyStatus


class Deployment(TimestampedModel):
    flow = models.ForeignKey("runs.Flow", on_delete=models.CASCADE, related_name="deployments")
    name = models.CharField(max_length=255)
    version = models.CharField(max_length=255, null=True, blank=True)
    version_info = models.JSONField(null=True, blank=True)
    description = models.TextField(null=True, blank=True)
    paused = models.BooleanField(default=False)
    # Deployment concurrency: a limit on runs in progress, enforced through a global concurrency limit.
    concurrency_limit = models.IntegerField(null=True, blank=True)
    concurrency_limit_id = models.UUIDField(null=True, blank=True)
    concurrency_options = models.JSONField(null=True, blank=True)
    job_variables = models.JSONField(default=dict, blank=True)
    parameters = models.JSONField(default=dict, blank=True)
    parameter_openapi_schema = models.JSONField(null=True, blank=True)
    enforce_parameter_schema = models.BooleanField(default=True)
    tags = models.JSONField(default=list, blank=True)
    labels = models.JSONField(default=dict, blank=True)
    work_queue = models.ForeignKey(
        "runs.WorkQueue", null=True, blank=True, on_delete=models.SET_NULL, related_name="deployments"
    )
    work_queue_name = models.CharField(max_length=255, null=True, blank=True)
    last_polled = models.DateTimeField(null=True, blank=True)
    path = models.TextField(null=True, blank=True)
    entrypoint = models.TextField(null=True, blank=True)
    pull_steps = models.JSONField(null=True, blank=True)
    storage_document_id = models.UUIDField(null=True, blank=True)
    infrastructure_document_id = models.UUIDField(null=True, blank=True)
    created_by = models.JSONField(null=True, blank=True)
    updated_by = models.JSONField(null=True, blank=True)
    status = models.CharField(max_length=16, choices=ReadyStatus.choices, default=ReadyStatus.NOT_READY)

    class Meta:
        ordering = ["flow", "name"]
        constraints = [models.UniqueConstraint(fields=["flow", "name"], name="deployment_name_per_flow")]

    def __str__(self):
        return self.name


class DeploymentSchedule(TimestampedModel):
    deployment = models.ForeignKey(Deployment, on_delete=models.CASCADE, related_name="schedules")
    schedule = models.JSONField()  # {"interval": ..} | {"cron": ..} | {"rrule": ..}, as on the wire
    active = models.BooleanField(default=True)
    max_scheduled_runs = models.IntegerField(null=True, blank=True)
    parameters = models.JSONField(default=dict, blank=True)
    slug = models.CharField(max_length=255, null=True, blank=True)

    class Meta:
        ordering = ["created"]
        constraints = [
            models.UniqueConstraint(
                fields=["deployment", "slug"], condition=models.Q(slug__isnull=False), name="schedule_slug_per_deployment"
            ),
        ]

import uuid

from django.db import models


class Log(models.Model):
    """A log line from a flow or task run. Runs are plain references: logs may arrive before or after them."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    created = models.DateTimeField(auto_now_add=True)
    updated = models.DateTimeField(auto_now=True)
    name = models.CharField(max_length=255)
    level = models.SmallIntegerField()
    message = models.TextField()
    timestamp = models.DateTimeField()
    flow_run_id = models.UUIDField(null=True, blank=True)
    task_run_id = models.UUIDField(null=True, blank=True)
    worker_id = models.UUIDField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["flow_run_id", "timestamp"], name="log_by_flow_run"),
            models.Index(fields=["task_run_id", "timestamp"], name="log_by_task_run"),
            models.Index(fields=["timestamp"], name="log_timestamp"),
        ]

    def __str__(self):
        return f"{self.name}: {self.message[:80]}"

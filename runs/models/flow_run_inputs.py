from django.db import models

from .base import TimestampedModel


class FlowRunInput(TimestampedModel):
    """A key/value a paused flow run waits for (or sends): its input schema, the input given on
    resume, or messages between runs. Values are JSON text, stored as sent."""

    flow_run = models.ForeignKey("runs.FlowRun", on_delete=models.CASCADE, related_name="inputs")
    key = models.CharField(max_length=255)
    value = models.TextField()
    sender = models.CharField(max_length=255, null=True, blank=True)

    class Meta:
        ordering = ["created"]
        constraints = [models.UniqueConstraint(fields=["flow_run", "key"], name="flow_run_input_key_per_run")]

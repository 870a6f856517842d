from django.db import models

from .base import TimestampedModel


class Artifact(TimestampedModel):
    """Something a run published: markdown, a table, a link, an image, progress..."""

    key = models.CharField(max_length=255, null=True, blank=True)
    type = models.CharField(max_length=64, null=True, blank=True)
    description = models.TextField(null=True, blank=True)
    data = models.JSONField(null=True, blank=True)
    metadata = models.JSONField(null=True, blank=True)  # `metadata_` on the wire
    # Plain references, as on the wire: an artifact outlives the run that made it.
    flow_run_id = models.UUIDField(null=True, blank=True, db_index=True)
    task_run_id = models.UUIDField(null=True, blank=True, db_index=True)

    class Meta:
        ordering = ["-created"]
        indexes = [models.Index(fields=["key", "-created"], name="artifact_key_created_idx")]

    def __str__(self):
        return self.key or str(self.id)


class ArtifactCollection(TimestampedModel):
    """The latest artifact of each key, kept up to date on every write so 'latest' reads need no grouping."""

    key = models.CharField(max_length=255, unique=True)
    latest = models.ForeignKey(Artifact, on_delete=models.CASCADE, related_name="+")
    type = models.CharField(max_length=64, null=True, blank=True)
    description = models.TextField(null=True, blank=True)
    data = models.JSONField(null=True, blank=True)
    metadata = models.JSONField(null=True, blank=True)  # `metadata_` on the wire
    flow_run_id = models.UUIDField(null=True, blank=True)
    task_run_id = models.UUIDField(null=True, blank=True)

    class Meta:
        ordering = ["key"]

    def __str__(self):
        return self.key

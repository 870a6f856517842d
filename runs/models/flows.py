from django.db import models

from .base import TimestampedModel


class Flow(TimestampedModel):
    name = models.CharField(max_length=255, unique=True)
    tags = models.JSONField(default=list, blank=True)
    labels = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.name

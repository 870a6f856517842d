from django.db import models

from .base import TimestampedModel


class Variable(TimestampedModel):
    """A named JSON value that flows read and write (`Variable.get/set`)."""

    name = models.CharField(max_length=255, unique=True)
    value = models.JSONField(null=True, blank=True)
    tags = models.JSONField(default=list, blank=True)

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.name

from django.db import models

from .base import TimestampedModel


class SavedSearch(TimestampedModel):
    """A named set of filters for the runs list, as the UI saves them."""

    name = models.CharField(max_length=255, unique=True)
    filters = models.JSONField(default=list, blank=True)

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.name

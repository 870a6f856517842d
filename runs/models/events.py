from django.db import models


class Event(models.Model):
    """An event as the client or the server emitted it; `received` orders the live stream."""

    id = models.UUIDField(primary_key=True)
    occurred = models.DateTimeField()
    received = models.DateTimeField(db_index=True)
    event = models.CharField(max_length=1024)
    resource_id = models.CharField(max_length=1024)
    resource = models.JSONField(default=dict)
    related = models.JSONField(default=list)
    payload = models.JSONField(default=dict)
    follows = models.UUIDField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["occurred"], name="event_occurred"),
            models.Index(fields=["event", "occurred"], name="event_name_occurred"),
            models.Index(fields=["resource_id", "occurred"], name="event_resource_occurred"),
        ]

    def __str__(self):
        return f"{self.event} {self.resource_id}"


class EventResource(models.Model):
    """One row per resource an event touches (its own and each related one), for resource filters."""

    event = models.ForeignKey(Event, on_delete=models.CASCADE, related_name="resources")
    occurred = models.DateTimeField()
    resource_id = models.CharField(max_length=1024)
    role = models.CharField(max_length=255, blank=True)
    # Every label of the resource as sent, so label filters on related resources run in SQL.
    labels = models.JSONField(default=dict)

    class Meta:
        indexes = [models.Index(fields=["resource_id", "occurred"], name="event_resource_lookup")]
        constraints = [
            # Makes recording idempotent: a re-sent event cannot add its resources twice.
            models.UniqueConstraint(fields=["event", "role", "resource_id"], name="event_resource_unique"),
        ]

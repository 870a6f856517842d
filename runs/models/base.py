import uuid
from datetime import timedelta

from django.db import models


class StateType(models.TextChoices):
    SCHEDULED = "SCHEDULED"
    PENDING = "PENDING"
    RUNNING = "RUNNING"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"
    CRASHED = "CRASHED"
    PAUSED = "PAUSED"
    CANCELLING = "CANCELLING"


TERMINAL_STATE_TYPES = frozenset({StateType.COMPLETED, StateType.FAILED, StateType.CANCELLED, StateType.CRASHED})


class TimestampedModel(models.Model):
    """UUID primary key plus created/updated, as every object on the wire has."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    created = models.DateTimeField(auto_now_add=True, db_index=True)
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        abstract = True


class StateModel(models.Model):
    """One entry of a run's state history; the run row carries a copy of the current one."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    created = models.DateTimeField(auto_now_add=True)
    updated = models.DateTimeField(auto_now=True)
    type = models.CharField(max_length=16, choices=StateType.choices)
    name = models.CharField(max_length=255)
    timestamp = models.DateTimeField()
    message = models.TextField(blank=True, null=True)
    state_details = models.JSONField(default=dict)
    data = models.JSONField(null=True, blank=True)

    class Meta:
        abstract = True

    def __str__(self):
        return f"{self.name} ({self.type}) at {self.timestamp:%Y-%m-%d %H:%M:%S}"


class RunModel(TimestampedModel):
    """Columns shared by flow runs and task runs."""

    name = models.CharField(max_length=255)
    tags = models.JSONField(default=list, blank=True)
    labels = models.JSONField(default=dict, blank=True)
    empirical_policy = models.JSONField(default=dict, blank=True)
    # The current state (a `state` foreign key on each concrete model) is copied here so filters and
    # sorts need no join.
    state_type = models.CharField(max_length=16, choices=StateType.choices, null=True, blank=True)
    state_name = models.CharField(max_length=255, null=True, blank=True)
    state_timestamp = models.DateTimeField(null=True, blank=True)
    run_count = models.IntegerField(default=0)
    expected_start_time = models.DateTimeField(null=True, blank=True)
    next_scheduled_start_time = models.DateTimeField(null=True, blank=True)
    start_time = models.DateTimeField(null=True, blank=True)
    end_time = models.DateTimeField(null=True, blank=True)
    total_run_time = models.DurationField(default=timedelta(0))

    class Meta:
        abstract = True

    def __str__(self):
        return self.name

"""Concurrency limits and the leases that hold their slots.

A global (v2) limit counts occupied slots in `active_slots`. Tag (v1) limits are v2 limits named
`tag:<tag>`. Every slot taken through a lease is recorded as a lease row, so any server process can
see who holds what and give the slots of an expired lease back.
"""

import uuid

from django.db import models
from django.utils import timezone

from .base import TimestampedModel

TAG_LIMIT_PREFIX = "tag:"


class ConcurrencyLimit(TimestampedModel):
    name = models.CharField(max_length=255, unique=True)
    limit = models.IntegerField()
    active = models.BooleanField(default=True)
    active_slots = models.IntegerField(default=0)
    denied_slots = models.IntegerField(default=0)
    slot_decay_per_second = models.FloatField(default=0.0)
    avg_slot_occupancy_seconds = models.FloatField(default=2.0)
    # The moment decay is counted from: decay is applied in whole slots, and the remainder of
    # the elapsed time is kept (not lost) by moving this mark only as far as the slots decayed.
    decay_counted_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.name

    @property
    def tag(self) -> str | None:
        return self.name.removeprefix(TAG_LIMIT_PREFIX) if self.name.startswith(TAG_LIMIT_PREFIX) else None


class ConcurrencyLease(models.Model):
    """Slots held on one or more limits until released or until `expires_at` passes."""

    class HolderType(models.TextChoices):
        FLOW_RUN = "flow_run"
        TASK_RUN = "task_run"
        DEPLOYMENT = "deployment"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    created = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField(db_index=True)
    slots = models.IntegerField()
    holder_type = models.CharField(max_length=16, choices=HolderType.choices, null=True, blank=True)
    holder_id = models.UUIDField(null=True, blank=True, db_index=True)
    limits = models.ManyToManyField(ConcurrencyLimit, related_name="leases", through="ConcurrencyLeaseLimit")

    class Meta:
        ordering = ["created"]

    def __str__(self):
        return f"lease {self.id} ({self.slots} slot(s))"


class ConcurrencyLeaseLimit(models.Model):
    lease = models.ForeignKey(ConcurrencyLease, on_delete=models.CASCADE, related_name="limit_links")
    limit = models.ForeignKey(ConcurrencyLimit, on_delete=models.CASCADE, related_name="lease_links")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["lease", "limit"], name="concurrency_lease_limit_once")]

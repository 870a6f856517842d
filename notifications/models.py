"""Notification policies and their outbox.

A policy says which flow-run states (by state name), which runs (any of its tags; none = every run)
and which channel. When orchestration writes a matching state, one Delivery row per policy is
written in the same transaction (the outbox); django-q2 sends it, and every try is a
DeliveryAttempt. (policy, state) is unique, so one state change is never queued twice.
"""

import uuid

from django.db import models

from runs.models.base import TimestampedModel


class NotificationPolicy(TimestampedModel):
    name = models.CharField(max_length=255, blank=True, default="")
    # State *names* as the runs show them (Failed, Crashed, Late, ...), matched case-insensitively.
    state_names = models.JSONField(default=list)
    tags = models.JSONField(default=list, blank=True)
    channel = models.CharField(max_length=32)  # a key of notifications.channels.CHANNELS
    # The channel's settings; secret fields are stored Fernet-encrypted (see notifications.secrets).
    channel_config = models.JSONField(default=dict, blank=True)
    message_template = models.TextField(blank=True, default="")  # empty: the default message
    is_active = models.BooleanField(default=True, db_index=True)

    class Meta:
        ordering = ["-created"]
        verbose_name_plural = "notification policies"

    def __str__(self):
        return self.name or f"{self.channel} on {', '.join(self.state_names)}"


class DeliveryStatus(models.TextChoices):
    PENDING = "PENDING"  # waiting for its (next) attempt at next_attempt_at
    SENDING = "SENDING"  # claimed by a worker until lease_until
    SENT = "SENT"
    FAILED = "FAILED"  # gave up: a permanent error, or retries exhausted


class Delivery(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    created = models.DateTimeField(auto_now_add=True, db_index=True)
    policy = models.ForeignKey(NotificationPolicy, on_delete=models.CASCADE, related_name="deliveries")
    # Plain ids, not foreign keys: the record of what was sent outlives a deleted run.
    flow_run_id = models.UUIDField(null=True, blank=True)
    state_id = models.UUIDField(null=True, blank=True)  # null for a test message
    is_test = models.BooleanField(default=False)
    # What is sent, rendered when the state was written (the run may change or vanish later).
    subject = models.CharField(max_length=255, blank=True, default="")
    body = models.TextField()
    run_url = models.CharField(max_length=1024, blank=True, default="")
    # {"placeholders": {name: value}, "tags": [...]}: the run facts a channel payload may use
    # (severity from the state type, ...), kept with the message so a retry needs no run row.
    facts = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=16, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING)
    attempt_count = models.IntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    lease_until = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True, default="")
    # Indexes into the channel's requests_for() list already answered 2xx (Twilio sends one SMS per
    # number): a retry sends only the rest, so nobody gets the message twice.
    completed_requests = models.JSONField(default=list, blank=True)

    class Meta:
        ordering = ["-created"]
        verbose_name_plural = "deliveries"
        constraints = [
            models.UniqueConstraint(fields=["policy", "state_id"], name="delivery_once_per_policy_and_state"),
        ]
        indexes = [
            models.Index(fields=["status", "next_attempt_at"], name="delivery_due"),
            models.Index(fields=["policy", "-created"], name="delivery_policy_created"),
        ]

    def __str__(self):
        return f"{self.status} {self.subject or self.body[:40]}"


class DeliveryAttempt(models.Model):
    id = models.BigAutoField(primary_key=True)
    delivery = models.ForeignKey(Delivery, on_delete=models.CASCADE, related_name="attempts")
    number = models.IntegerField()
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    status_code = models.IntegerField(null=True, blank=True)
    error = models.TextField(blank=True, default="")
    response_excerpt = models.CharField(max_length=500, blank=True, default="")

    class Meta:
        ordering = ["delivery", "number"]
        constraints = [
            models.UniqueConstraint(fields=["delivery", "number"], name="delivery_attempt_number"),
        ]

    def __str__(self):
        return f"attempt {self.number}: {self.status_code or self.error[:40]}"

"""The outbox: queue a delivery per matching policy with the state change, send it, retry, record.

Lifecycle of a Delivery row:
  PENDING  (written in the orchestration transaction, or after a retryable failure, due at next_attempt_at)
  SENDING  (claimed by one worker with a single conditional UPDATE, until lease_until)
  SENT / FAILED.
A worker claims, commits an attempt row, then makes the HTTP request(s) and records the outcome. The
claim increments attempt_count and every later write is conditional on that number (a fencing
token), so a worker whose lease ran out cannot overwrite the newer attempt of another.

Exactly-once delivery over HTTP is impossible: when a worker dies after the service received the
request but before the outcome was committed, the sweeper sends it again. It sends the same
Message.key (the delivery id), which channels pass on as the service's idempotency key (PagerDuty
dedup_key, Opsgenie alias, the webhook Idempotency-Key header), so services that deduplicate do.
"""

from __future__ import annotations

import email.utils
import logging
import re
import time
from dataclasses import dataclass
from datetime import timedelta
from datetime import timezone as dt_timezone
from functools import partial

import requests
from django.conf import settings
from django.db import transaction
from django.db.models import F, Q, Window
from django.db.models.functions import RowNumber
from django.utils import timezone

from runs.domain import filters
from runs.domain.errors import NotFound

from . import messages, secrets
from .channels import CHANNELS
from .models import Delivery, DeliveryAttempt, DeliveryStatus, NotificationPolicy

logger = logging.getLogger(__name__)


class HideRequestPaths(logging.Filter):
    """urllib3 logs every request line at DEBUG, path included, and a webhook's path is often its
    token: keep the line, mask the path."""

    REQUEST_LINE = re.compile(r'"([A-Z]+) \S+ (HTTP/[\d.]+)"')

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        masked = self.REQUEST_LINE.sub(lambda match: f'"{match.group(1)} /{secrets.MASK} {match.group(2)}"', message)
        if masked != message:
            record.msg, record.args = masked, ()
        return True


logging.getLogger("urllib3.connectionpool").addFilter(HideRequestPaths())

SEND_TASK = "notifications.deliveries.send_delivery"
# A wait this short is slept inside the job (django-q2 schedules no finer than a minute); a longer
# one leaves the delivery PENDING for the sweeper. The job budget keeps a job within Q_CLUSTER's timeout.
SHORT_WAIT_SECONDS = 20
JOB_BUDGET_SECONDS = 30
SWEEP_BUDGET_SECONDS = 40
SWEEP_BATCH = 200
MAX_RETRY_AFTER_SECONDS = 3600
EXCERPT_LENGTH = 500


def _setting(name: str) -> float:
    return float(settings.PREFECT[name].value)


def max_attempts() -> int:
    return max(1, int(_setting("PREFECT_NOTIFICATIONS_MAX_ATTEMPTS")))


def retry_backoff_seconds() -> float:
    return max(0.0, _setting("PREFECT_NOTIFICATIONS_RETRY_BACKOFF_SECONDS"))


def lease_seconds() -> float:
    return max(1.0, _setting("PREFECT_NOTIFICATIONS_LEASE_SECONDS"))


# Queueing ----------------------------------------------------------------------------------------------


def matches(policy: NotificationPolicy, state_name: str, run_tags: set[str]) -> bool:
    """A policy wants this state (by name, any case) of this run (any of its tags; no tags = every run)."""
    if state_name.lower() not in {name.lower() for name in policy.state_names}:
        return False
    return not policy.tags or bool(run_tags.intersection(policy.tags))


def queue_notifications(flow_run, flow, state) -> list[Delivery]:
    """Write one PENDING delivery per active policy matching this new flow-run state.

    Called by orchestration inside its transaction, so the outbox rows commit (or roll back) with the
    state. On the hot path: one query when nothing matches; one more insert when something does.
    """
    return queue_notifications_for_states([(flow_run, flow, state)])


def queue_notifications_for_states(written: list[tuple]) -> list[Delivery]:
    """queue_notifications for many (flow run, flow, state) at once, e.g. runs the scheduler inserted."""
    policies = list(
        NotificationPolicy.objects.filter(is_active=True).only("id", "state_names", "tags", "message_template").order_by()
    )
    if not policies or not written:
        return []
    deliveries = []
    for flow_run, flow, state in written:
        state_name = state.name or state.type.capitalize()
        run_tags = set(flow_run.tags or [])
        matching = [policy for policy in policies if matches(policy, state_name, run_tags)]
        if not matching:
            continue
        facts = messages.facts_for(flow_run, flow, state)
        for policy in matching:
            subject, body = _render_safely(policy, facts)
            deliveries.append(
                Delivery(
                    policy_id=policy.id,
                    flow_run_id=flow_run.id,
                    state_id=state.id,
                    subject=subject[:255],
                    body=body,
                    run_url=facts["run_url"],
                    facts={"placeholders": facts, "tags": list(flow_run.tags or [])},
                )
            )
    if deliveries:
        # (policy, state) is unique: a state written twice cannot queue a second message.
        Delivery.objects.bulk_create(deliveries, ignore_conflicts=True, batch_size=500)
        transaction.on_commit(partial(enqueue_deliveries, [delivery.id for delivery in deliveries]))
    return deliveries


def _render_safely(policy, facts) -> tuple[str, str]:
    try:
        return messages.render(policy.message_template, facts)
    except (KeyError, ValueError, IndexError):
        # Templates are validated on save; one saved before a placeholder was renamed still gets the default.
        logger.warning("Notification policy %s has a template that cannot be rendered; sending the default message", policy.id)
        return messages.render("", facts)


def enqueue_deliveries(delivery_ids) -> None:
    """One django-q2 job per delivery. If the broker is unavailable the sweeper sends them later."""
    from django_q.tasks import async_task

    for delivery_id in delivery_ids:
        try:
            async_task(SEND_TASK, str(delivery_id), task_name=f"notification-{delivery_id}")
        except Exception:
            logger.warning("Could not queue delivery %s; the sweeper will send it", delivery_id, exc_info=True)


def send_test_message(policy: NotificationPolicy) -> Delivery:
    """Queue a test message through the policy's channel: a sample run, the policy's own template."""
    facts = messages.sample_facts(timezone.now())
    subject, body = _render_safely(policy, facts)
    with transaction.atomic():
        delivery = Delivery.objects.create(
            policy=policy,
            is_test=True,
            subject=f"Test: {subject}"[:255],
            body=body,
            run_url=facts["run_url"],
            facts={"placeholders": facts, "tags": []},
        )
        transaction.on_commit(partial(enqueue_deliveries, [delivery.id]))
    return delivery


# Sending -----------------------------------------------------------------------------------------------


@dataclass
class Outcome:
    status: str  # SENT, FAILED or "RETRY"
    status_code: int | None = None
    error: str = ""
    excerpt: str = ""
    retry_after: float | None = None


def _due_or_abandoned(now) -> Q:
    due = Q(status=DeliveryStatus.PENDING) & (Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now))
    abandoned = Q(status=DeliveryStatus.SENDING, lease_until__lt=now)  # its worker died
    return due | abandoned


def send_delivery(delivery_id, *, allow_sleep: bool = True) -> str | None:
    """Send one delivery if it is due (the django-q2 job). Running it again for a delivery already
    sent or claimed does nothing. Returns the status it left the delivery in (None: not claimed)."""
    started = time.monotonic()
    status = None
    while True:
        claimed = _claim(delivery_id)
        if claimed is None:
            return status
        delivery, attempt = claimed
        status, wait = _attempt(delivery, attempt)
        if wait is None or not allow_sleep:
            return status
        if wait > SHORT_WAIT_SECONDS or time.monotonic() - started + wait > JOB_BUDGET_SECONDS:
            return status  # left PENDING with next_attempt_at: the sweeper takes it from here
        time.sleep(wait + 0.05)  # next_attempt_at is then surely past


def _claim(delivery_id):
    now = timezone.now()
    with transaction.atomic():
        claimed = Delivery.objects.filter(Q(pk=delivery_id) & _due_or_abandoned(now)).update(
            status=DeliveryStatus.SENDING,
            lease_until=now + timedelta(seconds=lease_seconds()),
            attempt_count=F("attempt_count") + 1,
        )
        if not claimed:
            return None
        delivery = Delivery.objects.select_related("policy").get(pk=delivery_id)
        # An attempt left open was cut short by a dying worker: say so rather than leave it blank.
        DeliveryAttempt.objects.filter(delivery=delivery, finished_at__isnull=True).update(
            finished_at=now, error="The worker stopped before this attempt finished; it was retried."
        )
        # Committed before the request goes out: even if this worker dies, the try is on record.
        attempt = DeliveryAttempt.objects.create(delivery=delivery, number=delivery.attempt_count, started_at=now)
    return delivery, attempt


def _attempt(delivery: Delivery, attempt: DeliveryAttempt) -> tuple[str, float | None]:
    """Make the requests not yet answered 2xx; record the outcome. Returns (status, seconds until a retry)."""
    channel = CHANNELS.get(delivery.policy.channel)
    known_secrets: list[str] = []
    try:
        if channel is None:
            raise LookupError(f"Unknown channel {delivery.policy.channel!r}")
        config = secrets.decrypt_config(channel, delivery.policy.channel_config)
        known_secrets = secrets.secret_strings(channel, config)
        outgoing = channel.requests_for(messages.build_message(delivery), config)
        known_secrets = secrets.secret_strings(channel, config, outgoing)
    except Exception as exc:
        outcome = Outcome(DeliveryStatus.FAILED, error=f"Cannot build the request: {exc}")
        return _record(delivery, attempt, outcome, known_secrets)

    completed = list(delivery.completed_requests or [])
    outcome = Outcome(DeliveryStatus.SENT)
    for index, request in enumerate(outgoing):
        if index in completed:
            continue
        outcome = _send_one(channel, request)
        if outcome.status != DeliveryStatus.SENT:
            break
        # Saved at once, so a retry after a later failure skips the recipients already served.
        completed.append(index)
        Delivery.objects.filter(pk=delivery.pk, attempt_count=attempt.number).update(completed_requests=completed)
    return _record(delivery, attempt, outcome, known_secrets)


def _send_one(channel, request) -> Outcome:
    try:
        response = channel.send_one(request)
    except requests.Timeout as exc:
        return Outcome("RETRY", error=f"Timed out: {exc}")
    except requests.ConnectionError as exc:
        return Outcome("RETRY", error=f"Connection failed: {exc}")
    except Exception as exc:  # an invalid URL and the like: trying again cannot help
        return Outcome(DeliveryStatus.FAILED, error=f"Request failed: {exc}")
    code = response.status_code
    excerpt = response.text[:EXCERPT_LENGTH] if response.content else ""
    if 200 <= code < 300:
        return Outcome(DeliveryStatus.SENT, code, excerpt=excerpt)
    error = f"HTTP {code} {response.reason or ''}".strip()
    if code == 429 or code >= 500:
        return Outcome("RETRY", code, error, excerpt, parse_retry_after(response.headers.get("Retry-After")))
    return Outcome(DeliveryStatus.FAILED, code, error, excerpt)


def parse_retry_after(value: str | None) -> float | None:
    """Retry-After as seconds (delta-seconds or an HTTP date), capped; None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        seconds = float(value)
    else:
        try:
            moment = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=dt_timezone.utc)
        seconds = (moment - timezone.now()).total_seconds()
    return min(max(0.0, seconds), MAX_RETRY_AFTER_SECONDS)


def _record(delivery, attempt, outcome: Outcome, known_secrets: list[str]) -> tuple[str, float | None]:
    now = timezone.now()
    error = secrets.scrub(outcome.error, known_secrets)
    excerpt = secrets.scrub(outcome.excerpt, known_secrets)[:EXCERPT_LENGTH]
    wait = None
    changes: dict = {"lease_until": None}
    if outcome.status == DeliveryStatus.SENT:
        changes.update(status=DeliveryStatus.SENT, sent_at=now, last_error="", next_attempt_at=None)
    elif outcome.status == "RETRY" and attempt.number < max_attempts():
        wait = outcome.retry_after if outcome.retry_after is not None else retry_backoff_seconds() * 2 ** (attempt.number - 1)
        changes.update(status=DeliveryStatus.PENDING, next_attempt_at=now + timedelta(seconds=wait), last_error=error)
    else:
        if outcome.status == "RETRY":
            error = f"{error} (gave up after {attempt.number} attempts)"
        changes.update(status=DeliveryStatus.FAILED, last_error=error, next_attempt_at=None)
    with transaction.atomic():
        DeliveryAttempt.objects.filter(pk=attempt.pk).update(
            finished_at=now, status_code=outcome.status_code, error=error, response_excerpt=excerpt
        )
        # Only while the claim is still ours: a newer attempt's outcome is not overwritten.
        current = Delivery.objects.filter(pk=delivery.pk, status=DeliveryStatus.SENDING, attempt_count=attempt.number).update(**changes)
    if not current:
        logger.warning("Delivery %s attempt %d finished after its lease was taken over", delivery.pk, attempt.number)
        return changes["status"], None
    if changes["status"] == DeliveryStatus.SENT:
        logger.info("Delivery %s sent (attempt %d)", delivery.pk, attempt.number)
    else:
        logger.warning("Delivery %s attempt %d: %s -> %s", delivery.pk, attempt.number, error, changes["status"])
    return changes["status"], wait


def send_due_deliveries() -> int:
    """The sweeper (every minute): sends every due PENDING delivery and every SENDING one whose
    worker died (lease expired), so a lost job loses no message. Returns how many it tried."""
    ids = list(
        Delivery.objects.filter(_due_or_abandoned(timezone.now()))
        .order_by(F("next_attempt_at").asc(nulls_first=True), "created")
        .values_list("id", flat=True)[:SWEEP_BATCH]
    )
    started = time.monotonic()
    tried = 0
    for delivery_id in ids:
        if time.monotonic() - started > SWEEP_BUDGET_SECONDS:
            break  # the rest wait for the next sweep
        send_delivery(delivery_id, allow_sleep=False)
        tried += 1
    return tried


# Reading ---------------------------------------------------------------------------------------------


class DeliveryStatusFilter(filters.FilterModel):
    any_: list[DeliveryStatus] | None = None


class DeliveryFilter(filters.FilterModel):
    policy_id: filters.IdFilter | None = None
    flow_run_id: filters.IdFilter | None = None
    status: DeliveryStatusFilter | None = None

    def to_q(self, prefix: str = "") -> Q:
        clauses = [
            self.policy_id.to_q(prefix, "policy_id") if self.policy_id else filters.ALL,
            self.flow_run_id.to_q(prefix, "flow_run_id") if self.flow_run_id else filters.ALL,
        ]
        if self.status:
            clauses.append(filters.when(self.status.any_ is not None, Q(status__in=self.status.any_ or [])))
        return filters.combine(clauses)


def read_deliveries(*, deliveries: DeliveryFilter | None = None, limit: int | None = None, offset: int = 0) -> list[Delivery]:
    """Newest first, each with its attempts (one extra query for all of them)."""
    queryset = (
        Delivery.objects.filter(deliveries.to_q() if deliveries else filters.ALL)
        .order_by("-created", "-id")
        .prefetch_related("attempts")
    )
    offset = offset or 0
    return list(queryset[offset: offset + limit] if limit is not None else queryset[offset:])


def read_latest_deliveries(*, policy_ids, per_policy: int) -> dict:
    """The newest `per_policy` deliveries of each policy, with attempts: {policy id: [deliveries]}.

    One query for all policies (a row number per policy) plus one for the attempts, so a list of
    policies costs the same however many there are.
    """
    numbered = Delivery.objects.filter(policy_id__in=policy_ids).annotate(
        newness=Window(RowNumber(), partition_by=F("policy_id"), order_by=[F("created").desc(), F("id").desc()])
    )
    latest: dict = {policy_id: [] for policy_id in policy_ids}
    for delivery in numbered.filter(newness__lte=per_policy).order_by("-created", "-id").prefetch_related("attempts"):
        latest[delivery.policy_id].append(delivery)
    return latest


def read_policy_deliveries(*, policy_id, limit: int | None = None, offset: int = 0) -> list[Delivery]:
    if not NotificationPolicy.objects.filter(pk=policy_id).exists():
        raise NotFound("Notification policy not found.")
    return read_deliveries(deliveries=DeliveryFilter(policy_id={"any_": [policy_id]}), limit=limit, offset=offset)

"""Counting events in trigger buckets and firing automations, with the state in the database.

An event trigger keeps one open bucket per `for_each` key (AutomationBucket): a window
[start, end) and how many expected events it has counted. A Reactive trigger fires as soon as its
bucket reaches `threshold`, then ignores events until the window it fired in is over; a Proactive
trigger fires when a window closes with fewer than `threshold` events (checked by the periodic
service, `evaluate_proactive_triggers`). With `after`, a window only opens when an `after` event
arrives. `within` 0 (Reactive only) means no window: every `threshold` events fire.

Compound and sequence triggers collect the firings of their child triggers (kept as bucket rows
under the composite trigger's id, one per child) and fire when enough (or all, in order) have
fired within their `within`.

Firing publishes `prefect.automation.triggered` and queues one django-q2 job that runs the
automation's actions in order (runs/automations/actions.py). Every bucket change happens under a
row lock in one transaction per event and trigger, so several workers may evaluate at once.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial

import orjson
from django.db import IntegrityError, transaction
from django.utils import timezone
from pydantic import TypeAdapter

from runs.domain.automations import CompoundTrigger, EventTrigger, SequenceTrigger, TriggerSpec, all_triggers
from runs.domain.events import publish_event
from runs.models import Automation, AutomationBucket

from . import matching

logger = logging.getLogger(__name__)

# A bucket opened by an event accepts events this much older too (they may arrive out of order).
PRECEDING_EVENT_LOOKBACK = timedelta(minutes=15)
# Closed buckets are dropped this long after their window ended.
EXPIRED_BUCKET_BUFFER = timedelta(seconds=60)
# A composite trigger without `within` keeps its child firings this long.
COMPOSITE_FIRINGS_KEPT = timedelta(days=3650)

RUN_ACTIONS_TASK = "runs.automations.jobs.run_actions"

trigger_adapter = TypeAdapter(TriggerSpec)


def json_safe(value):
    return orjson.loads(orjson.dumps(value, option=orjson.OPT_UTC_Z | orjson.OPT_NON_STR_KEYS))


def parse_instant(value) -> datetime:
    return value if isinstance(value, datetime) else datetime.fromisoformat(str(value).replace("Z", "+00:00"))


# Loaded automations --------------------------------------------------------------------------------


@dataclass
class LoadedAutomation:
    """An enabled automation with its trigger tree parsed, and each trigger's parent (None: the root)."""

    row: Automation
    trigger: object
    parents: dict = field(default_factory=dict)

    @classmethod
    def of(cls, row: Automation) -> LoadedAutomation:
        trigger = trigger_adapter.validate_python(row.trigger)
        parents = {trigger.id: None}
        for node in all_triggers(trigger):
            for child in getattr(node, "triggers", []):
                parents[child.id] = node
        return cls(row=row, trigger=trigger, parents=parents)

    def event_triggers(self) -> list[EventTrigger]:
        return [node for node in all_triggers(self.trigger) if isinstance(node, EventTrigger)]


def load_enabled_automations() -> list[LoadedAutomation]:
    loaded = []
    for row in Automation.objects.filter(enabled=True).order_by("created", "id"):
        try:
            loaded.append(LoadedAutomation.of(row))
        except ValueError:  # stored before a validation rule existed: skip it rather than stop all
            logger.warning("Automation %s has a trigger that no longer validates; it is not evaluated", row.id)
    return loaded


def interested_in_any(trigger_specs: list[dict], event_names: list[str]) -> bool:
    """Could any of these stored triggers care about any of these event names? (The hot-path check.)"""
    for spec in trigger_specs:
        try:
            trigger = trigger_adapter.validate_python(spec)
        except ValueError:
            continue
        for node in all_triggers(trigger):
            if isinstance(node, EventTrigger) and any(matching.could_interest(node, name) for name in event_names):
                return True
    return False


# Firings -------------------------------------------------------------------------------------------


@dataclass
class Firing:
    automation: LoadedAutomation
    trigger: object
    triggered: datetime
    triggering_event: dict | None
    triggering_labels: dict = field(default_factory=dict)
    child_firings: list = field(default_factory=list)
    id: uuid.UUID = field(default_factory=uuid.uuid4)


def fire(firing: Firing) -> None:
    parent = firing.automation.parents.get(firing.trigger.id)
    if parent is None:
        act(firing)
    else:
        evaluate_composite_trigger(parent, firing)


def expected_firings(trigger) -> int:
    if isinstance(trigger, SequenceTrigger) or trigger.require == "all":
        return len(trigger.triggers)
    return 1 if trigger.require == "any" else int(trigger.require)


def evaluate_composite_trigger(trigger, firing: Firing) -> None:
    """Record the child's firing; fire the composite when enough children (a sequence: all, in
    order) have fired within its window. Serialised per automation by a lock on its row."""
    automation = firing.automation
    if isinstance(trigger, CompoundTrigger) and expected_firings(trigger) == 1:
        fire(Firing(automation, trigger, timezone.now(), firing.triggering_event, child_firings=[firing]))
        return
    Automation.objects.select_for_update().filter(id=automation.row.id).first()
    rows = AutomationBucket.objects.filter(automation_id=automation.row.id, trigger_id=trigger.id)
    if trigger.within is not None:
        rows.filter(start__lt=firing.triggered - trigger.within).delete()
    kept = trigger.within if trigger.within is not None else COMPOSITE_FIRINGS_KEPT
    AutomationBucket.objects.update_or_create(
        automation_id=automation.row.id, trigger_id=trigger.id, bucketing_key=orjson.dumps([str(firing.trigger.id)]).decode(),
        defaults={
            "start": firing.triggered, "end": firing.triggered + kept, "count": 1,
            "last_event": {"triggering_event": firing.triggering_event, "triggering_labels": firing.triggering_labels,
                           "firing_id": str(firing.id)},
        },
    )
    children = list(rows.order_by("start", "id"))
    if isinstance(trigger, SequenceTrigger):
        order = [orjson.loads(row.bucketing_key)[0] for row in children]
        ready = order == [str(child.id) for child in trigger.triggers]
    else:
        ready = len(children) >= expected_firings(trigger)
    if not ready:
        return
    rows.filter(id__in=[row.id for row in children]).delete()
    child_firings = [
        Firing(automation, automation_child(trigger, orjson.loads(row.bucketing_key)[0]), row.start,
               (row.last_event or {}).get("triggering_event"), (row.last_event or {}).get("triggering_labels") or {})
        for row in children
    ]
    fire(Firing(automation, trigger, timezone.now(), firing.triggering_event, child_firings=child_firings))


def automation_child(trigger, child_id: str):
    return next((child for child in trigger.triggers if str(child.id) == child_id), trigger)


def automation_resource(automation: Automation, trigger) -> dict:
    resource = {"prefect.resource.id": f"prefect.automation.{automation.id}", "prefect.resource.name": automation.name}
    if isinstance(trigger, EventTrigger):
        resource["prefect.posture"] = trigger.posture
    return resource


def state_change_event(firing: Firing, state: str = "triggered") -> dict:
    """`prefect.automation.triggered` (or `.resolved`): the automation, the event that tipped it
    (related as `triggering-event`) and the for_each labels."""
    event = firing.triggering_event
    return {
        "id": str(uuid.uuid4()),
        "occurred": firing.triggered.isoformat(),
        "event": f"prefect.automation.{state}",
        "resource": automation_resource(firing.automation.row, firing.trigger),
        "related": (
            [{"prefect.resource.id": f"prefect.event.{event['id']}", "prefect.resource.role": "triggering-event"}]
            if event else []
        ),
        "payload": {"triggering_labels": firing.triggering_labels, "triggering_event": event},
    }


def act(firing: Firing) -> None:
    """Publish the automation's triggered event and queue its actions (after this transaction
    commits): `actions` see the triggering event, `actions_on_trigger` the triggered event."""
    automation = firing.automation.row
    triggered = state_change_event(firing)
    publish_event(triggered)
    planned = [(firing.triggering_event, action) for action in automation.actions]
    planned += [(triggered, action) for action in automation.actions_on_trigger]
    logger.info("Automation %s (%r) triggered; %d action(s) queued", automation.id, automation.name, len(planned))
    if not planned:
        return
    root = firing.automation.trigger
    job = json_safe({
        "automation": {
            "id": automation.id, "name": automation.name, "trigger_type": root.type,
            "posture": root.posture if isinstance(root, EventTrigger) else None,
        },
        "invocation": firing.id,
        "triggered": firing.triggered,
        "triggering_labels": firing.triggering_labels,
        "automation_triggered_event_id": triggered["id"],
        "actions": [
            {"index": index, "action": action, "triggering_event": event}
            for index, (event, action) in enumerate(planned)
        ],
    })
    transaction.on_commit(partial(queue_actions, job))


def queue_actions(job: dict) -> None:
    from django_q.tasks import async_task

    async_task(RUN_ACTIONS_TASK, job, task_name=f"automation-{job['automation']['id']}-{job['invocation']}")


# Buckets -------------------------------------------------------------------------------------------


def bucket_rows(automation: LoadedAutomation, trigger: EventTrigger):
    return AutomationBucket.objects.filter(automation_id=automation.row.id, trigger_id=trigger.id)


def locked_bucket(automation, trigger, key: str) -> AutomationBucket | None:
    return bucket_rows(automation, trigger).select_for_update().filter(bucketing_key=key).first()


def ensure_bucket(automation, trigger, key: str, *, start, end, last_event, initial_count: int = 0) -> AutomationBucket:
    """The open bucket for this key, locked; created with this window if there is none."""
    bucket = locked_bucket(automation, trigger, key)
    if bucket is None:
        try:
            with transaction.atomic():
                return AutomationBucket.objects.create(
                    automation_id=automation.row.id, trigger_id=trigger.id, bucketing_key=key,
                    start=start, end=end, count=initial_count, last_event=last_event,
                )
        except IntegrityError:  # another worker opened it first
            bucket = locked_bucket(automation, trigger, key)
    if last_event is not None:
        bucket.last_event = last_event
        bucket.save(update_fields=["last_event", "updated"])
    return bucket


def start_new_bucket(automation, trigger, key: str, *, start, end, count: int, last_event=None) -> AutomationBucket:
    bucket, _ = AutomationBucket.objects.update_or_create(
        automation_id=automation.row.id, trigger_id=trigger.id, bucketing_key=key,
        defaults={"start": start, "end": end, "count": count, "last_event": last_event},
    )
    return bucket


def evaluate(automation: LoadedAutomation, trigger: EventTrigger, bucket: AutomationBucket, now: datetime,
             event: dict | None) -> AutomationBucket | None:
    """Count `event` (if any) in the bucket, fire if the trigger is met, and open the next window.
    `now` is the event's time, or the clock for a proactive check. Returns the open bucket."""
    pending = 1 if event else 0
    if now < bucket.start:
        return bucket  # late, or after the trigger fired for this window: it does not count
    immediate = trigger.posture == "Reactive" and trigger.within == timedelta(0)
    if pending and (immediate or bucket.start <= now < bucket.end):
        bucket.count += pending
        bucket.last_event = event
        bucket.save(update_fields=["count", "last_event", "updated"])
        pending = 0
    # Reactive triggers fire as soon as the threshold is reached; proactive ones only once the
    # window is over (a late event could still arrive in time).
    ready = trigger.posture == "Reactive" or bucket.end <= now
    met = matching.meets_threshold(trigger, bucket.count)
    key = bucket.bucketing_key
    if ready and met:
        labels = dict(zip(sorted(trigger.for_each), orjson.loads(key)))
        fire(Firing(automation, trigger, timezone.now(), event or bucket.last_event, labels))
        bucket.delete()
    elif now < bucket.end:
        # A proactive trigger whose `after` and `expect` share this event (a heartbeat): each one
        # starts the wait over.
        if (event and trigger.posture == "Proactive" and not met
                and matching.starts_after(trigger, event["event"]) and matching.expects(trigger, event["event"])):
            occurred = parse_instant(event["occurred"])
            return start_new_bucket(automation, trigger, key, start=occurred, end=occurred + trigger.within,
                                    count=0, last_event=event)
        return bucket
    if trigger.after:
        AutomationBucket.objects.filter(pk=bucket.pk).delete()
        return None  # the next window opens with the next `after` event
    if trigger.within == timedelta(0):
        return None
    start = max(bucket.end, now)
    if trigger.posture == "Reactive" and pending:
        # The event belongs to a later window: open it and count the event there.
        fresh = start_new_bucket(automation, trigger, key, start=start, end=start + trigger.within, count=0)
        return evaluate(automation, trigger, fresh, now, event)
    return start_new_bucket(automation, trigger, key, start=start, end=start + trigger.within, count=pending)


def evaluate_event(automation: LoadedAutomation, trigger: EventTrigger, event: dict) -> None:
    """One event for one trigger that covers it, in its own transaction."""
    name = event["event"]
    occurred = parse_instant(event["occurred"])
    key = orjson.dumps(matching.bucketing_key(trigger, event)).decode()
    with transaction.atomic():
        bucket = None
        if trigger.after and matching.starts_after(trigger, name):
            # An event both `after` and expected opens the window at -1, so it does not count itself.
            bucket = ensure_bucket(automation, trigger, key, start=occurred, end=occurred + trigger.within,
                                   last_event=event, initial_count=-1 if matching.expects(trigger, name) else 0)
        if bucket is None and not trigger.after and matching.expects(trigger, name):
            bucket = ensure_bucket(automation, trigger, key, start=occurred - PRECEDING_EVENT_LOOKBACK,
                                   end=occurred + trigger.within, last_event=event)
        if not matching.expects(trigger, name):
            return
        if bucket is None:
            bucket = locked_bucket(automation, trigger, key)
            if bucket is None:
                return  # waiting for an `after` event
        evaluate(automation, trigger, bucket, occurred, event)


def evaluate_events(events: list[dict], automations: list[LoadedAutomation] | None = None) -> int:
    """Reactive evaluation of recorded events (wire dicts), oldest first; returns how many
    (event, trigger) pairs were evaluated."""
    automations = load_enabled_automations() if automations is None else automations
    evaluated = 0
    for event in sorted(events, key=lambda e: parse_instant(e["occurred"])):
        for automation in automations:
            for trigger in automation.event_triggers():
                if matching.covers(trigger, event):
                    evaluate_event(automation, trigger, event)
                    evaluated += 1
    return evaluated


def evaluate_proactive_triggers(now: datetime | None = None) -> int:
    """Fire the proactive triggers whose window closed short of events; drop long-closed buckets.
    Returns how many buckets were checked."""
    now = now or timezone.now()
    checked = 0
    for automation in load_enabled_automations():
        for trigger in automation.event_triggers():
            if trigger.posture != "Proactive":
                continue
            with transaction.atomic():
                if not trigger.for_each:
                    ensure_bucket(automation, trigger, "[]", start=now, end=now + trigger.within, last_event=None)
                bucket_rows(automation, trigger).filter(count__gte=trigger.threshold).delete()
            for bucket_id in bucket_rows(automation, trigger).order_by("start").values_list("id", flat=True):
                with transaction.atomic():
                    bucket = AutomationBucket.objects.select_for_update().filter(id=bucket_id).first()
                    if bucket is not None:
                        evaluate(automation, trigger, bucket, now, None)
                        checked += 1
    AutomationBucket.objects.filter(end__lte=now - EXPIRED_BUCKET_BUFFER).delete()
    return checked

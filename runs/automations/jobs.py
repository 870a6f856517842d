"""Where the engine meets django-q2 and the events path.

`events_recorded` is called by runs/domain/events.py for every batch of new events. It costs
nothing until the transaction commits; then one query (the enabled automations' triggers) decides
whether any trigger could care about these event names, and only then is one `evaluate_events`
job queued with the batch's ids. Everything else happens in the django-q2 cluster.
"""

from __future__ import annotations

import logging

from django.db import transaction

from runs.domain.events import event_to_wire
from runs.models import Automation, Event

from . import actions, triggers

logger = logging.getLogger(__name__)

EVALUATE_TASK = "runs.automations.jobs.evaluate_events"


class PendingEvaluation:
    """The events one transaction recorded, handed over once when it commits."""

    def __init__(self):
        self.events: dict[str, str] = {}  # event id -> event name

    def is_registered(self, connection) -> bool:
        # on_commit callbacks are (savepoint ids, callable, robust); a rolled-back transaction drops them.
        return any(entry[1] is self for entry in connection.run_on_commit)

    def __call__(self):
        queue_evaluation(self.events)


def events_recorded(events: dict) -> None:
    """{event id: event name} of newly stored events; evaluation is queued after commit."""
    if not events:
        return
    connection = transaction.get_connection()
    if not connection.in_atomic_block:
        queue_evaluation(events)
        return
    pending = getattr(connection, "pending_automation_evaluation", None)
    if pending is None or not pending.is_registered(connection):
        pending = PendingEvaluation()
        connection.pending_automation_evaluation = pending
        transaction.on_commit(pending)
    pending.events.update(events)


def queue_evaluation(events: dict) -> None:
    specs = list(Automation.objects.filter(enabled=True).values_list("trigger", flat=True))
    if not specs or not triggers.interested_in_any(specs, sorted(set(events.values()))):
        return
    from django_q.tasks import async_task

    async_task(EVALUATE_TASK, [str(event_id) for event_id in events], task_name="automation-triggers")


def evaluate_events(event_ids: list[str]) -> int:
    """The django-q2 job: reactive evaluation of these stored events."""
    events = [event_to_wire(event) for event in Event.objects.filter(id__in=event_ids)]
    return triggers.evaluate_events([triggers.json_safe(event) for event in events])


def evaluate_proactive_triggers() -> int:
    """The periodic service (runs/tasks.py, every minute)."""
    return triggers.evaluate_proactive_triggers()


def run_actions(job: dict) -> list[bool]:
    """The django-q2 job queued when an automation fires."""
    return actions.run_actions(job)

"""Storing and reading events.

`record_events` is the one way events enter the database: the websocket, POST /events and the
server's own state-change events all call it. Reads go through `read_events`, which applies an
EventFilter (runs/events/filters.py) in SQL.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime

from django.db import transaction
from django.utils import timezone
from pydantic import ValidationError

from runs.domain.errors import InvalidInput, NotFound
from runs.events.bulk import insert_rows
from runs.events.filters import EventFilter
from runs.events.schemas import EventIn
from runs.events.task_runs import record_task_runs
from runs.models import Event, EventResource

logger = logging.getLogger(__name__)

# Events per write: large enough to make a burst cheap, small enough for SQL parameter limits.
RECORD_CHUNK = 500


def parse_event(raw: dict | EventIn) -> EventIn:
    """Validate one event; InvalidInput says what is wrong with it."""
    if isinstance(raw, EventIn):
        return raw
    try:
        return EventIn.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'event'}: {e['msg']}" for e in exc.errors())
        raise InvalidInput(f"Invalid event: {problems}") from None


def record_events(events: list[dict], *, received: datetime | None = None) -> None:
    """Store events as sent on the wire (idempotent on event id) and fold prefect.task-run.* client
    events into task runs and their state history. Safe inside an outer transaction.

    Every event is validated before anything is written, so a bad one leaves no partial batch.
    """
    parsed = unique_by_id(parse_event(event) for event in events)
    if not parsed:
        return
    received = received or timezone.now()
    with transaction.atomic():
        for start in range(0, len(parsed), RECORD_CHUNK):
            new_events = store_events(parsed[start : start + RECORD_CHUNK], received)
            record_task_runs(new_events)
            automation_events_recorded({event.id: event.event for event in new_events})


def publish_event(event: dict, *, received: datetime | None = None) -> None:
    """Store an event the server emits itself, inside the caller's transaction.

    Its id is fresh and it is never a task-run event, so the duplicate check and the task-run
    folding that client events need are skipped: this sits on every state change's hot path.
    """
    parsed = parse_event(event)
    insert_rows(Event, EVENT_COLUMNS, [event_row(parsed, received or timezone.now())])
    insert_rows(EventResource, RESOURCE_COLUMNS, resource_rows(parsed))
    automation_events_recorded({parsed.id: parsed.event})


def automation_events_recorded(events: dict) -> None:
    # Imported here: the automations engine itself publishes events through this module.
    from runs.automations.jobs import events_recorded

    events_recorded(events)


def unique_by_id(events: Iterable[EventIn]) -> list[EventIn]:
    seen: dict = {}
    for event in events:
        seen.setdefault(event.id, event)
    return list(seen.values())


def store_events(events: list[EventIn], received: datetime) -> list[EventIn]:
    """Insert the events not stored yet, with one resource row per resource; returns the new ones."""
    stored = set(Event.objects.filter(id__in=[e.id for e in events]).values_list("id", flat=True))
    new_events = [event for event in events if event.id not in stored]
    if not new_events:
        return []
    insert_rows(Event, EVENT_COLUMNS, [event_row(event, received) for event in new_events])
    # A concurrent writer may have stored one of these ids first: the same event, so nothing is lost.
    insert_rows(EventResource, RESOURCE_COLUMNS, [row for event in new_events for row in resource_rows(event)])
    return new_events


EVENT_COLUMNS = ["id", "occurred", "received", "event", "resource_id", "resource", "related", "payload", "follows"]
RESOURCE_COLUMNS = ["event_id", "occurred", "role", "resource_id", "labels"]


def event_row(event: EventIn, received: datetime) -> dict:
    return {
        "id": event.id,
        "occurred": event.occurred,
        "received": received,
        "event": event.event,
        "resource_id": event.resource_id,
        "resource": event.resource,
        "related": event.related,
        "payload": event.payload,
        "follows": event.follows,
    }


def resource_rows(event: EventIn) -> list[dict]:
    """The event's own resource (role "") and each related one, once per (role, id)."""
    rows = {("", event.resource_id): event.resource}
    for related in event.related:
        rows.setdefault((related["prefect.resource.role"], related["prefect.resource.id"]), related)
    return [
        {"event_id": event.id, "occurred": event.occurred, "role": role, "resource_id": resource_id, "labels": labels}
        for (role, resource_id), labels in rows.items()
    ]


def read_events(*, filter: EventFilter | None, limit: int, offset: int = 0) -> tuple[list[Event], int]:
    """One page of matching events, in the filter's order, and how many match in all."""
    filter = filter or EventFilter()
    matching = Event.objects.filter(filter.to_q())
    total = matching.count()
    page = list(matching.order_by(*filter.ordering())[offset : offset + limit]) if limit else []
    return page, total


def read_event(*, event_id) -> Event:
    """One stored event by id; NotFound when there is none."""
    try:
        return Event.objects.get(id=event_id)
    except Event.DoesNotExist:
        raise NotFound("Event not found.") from None


def event_to_wire(event: Event) -> dict:
    """The ReceivedEvent shape; datetimes and UUIDs are left to the JSON encoder (ISO 8601 with Z)."""
    return {
        "occurred": event.occurred,
        "event": event.event,
        "resource": event.resource,
        "related": event.related,
        "payload": event.payload,
        "id": event.id,
        "follows": event.follows,
        "received": event.received,
    }

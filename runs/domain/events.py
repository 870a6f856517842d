"""Storing, reading and publishing events. (Interface fixed; implementation owned by the events work.)"""

from datetime import datetime


def record_events(events: list[dict], *, received: datetime | None = None) -> None:
    """Store events as sent on the wire (idempotent on event id) and fold prefect.task-run.* client
    events into task runs and their state history. Safe inside an outer transaction."""
    raise NotImplementedError

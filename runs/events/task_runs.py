"""Turning the client's `prefect.task-run.*` events into TaskRun rows and their state history.

Ordinary tasks make no HTTP calls: their whole life arrives as events (one per state, the event id
being the state id). A batch is folded with a fixed number of queries, whatever its size:

- a task run is matched on its id, or on its natural key (flow run, task key, dynamic key), in
  which case the stored row's id wins;
- the run row takes the newest state only (by state timestamp, then state id), so events may
  arrive in any order and the final row is the same;
- every state goes into the history, a state id seen before is ignored, so re-sent events are
  harmless.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from uuid import UUID

from django.db.models import Q
from django.utils import timezone as django_timezone
from django.utils.dateparse import parse_datetime, parse_duration

from runs.models import FlowRun, StateType, TaskRun, TaskRunState

from .bulk import insert_rows, update_rows
from .schemas import EventIn

logger = logging.getLogger(__name__)

TASK_RUN_PREFIX = "prefect.task-run."
FLOW_RUN_PREFIX = "prefect.flow-run."
STATE_TYPES = frozenset(StateType.values)

# Columns copied from `payload.task_run`; a key the client left out (it drops nulls) means null.
DATETIME_COLUMNS = ("expected_start_time", "next_scheduled_start_time", "start_time", "end_time", "cache_expiration")
TEXT_COLUMNS = ("cache_key", "task_version")
JSON_COLUMNS = {"empirical_policy": dict, "tags": list, "labels": dict, "task_inputs": dict}
COUNT_COLUMNS = ("run_count", "flow_run_run_count")
UPDATED_COLUMNS = [
    "name", *DATETIME_COLUMNS, *TEXT_COLUMNS, *JSON_COLUMNS, *COUNT_COLUMNS, "total_run_time",
    "state_id", "state_type", "state_name", "state_timestamp", "flow_run_id", "updated",
]
INSERTED_COLUMNS = ["id", "created", "task_key", "dynamic_key", *UPDATED_COLUMNS]
STATE_COLUMNS = [
    "id", "task_run_id", "type", "name", "message", "state_details", "data", "timestamp", "created", "updated",
]


def is_task_run_event(event: EventIn) -> bool:
    return event.event.startswith("prefect.task-run") and event.resource.get("prefect.orchestration") == "client"


@dataclass
class TaskRunChange:
    """One event, read as 'task run X entered state S'."""

    task_run_id: UUID
    flow_run_id: UUID | None
    state_id: UUID
    timestamp: datetime
    state: dict
    task_run: dict
    reported_flow_run_id: UUID | None = None  # as the event said, even if that flow run is unknown here

    @property
    def order(self) -> tuple[datetime, UUID]:
        return self.timestamp, self.state_id

    @property
    def natural_key(self) -> tuple | None:
        if self.flow_run_id is None:
            return None
        return self.flow_run_id, str(self.task_run["task_key"]), str(self.task_run["dynamic_key"])


def object_id(resource_id: str | None, prefix: str) -> UUID | None:
    if not resource_id or not resource_id.startswith(prefix):
        return None
    try:
        return UUID(resource_id[len(prefix):])
    except ValueError:
        return None


def read_change(event: EventIn) -> TaskRunChange | None:
    """The change an event describes, or None (logged) when it does not describe one."""
    task_run_id = object_id(event.resource_id, TASK_RUN_PREFIX)
    state = event.payload.get("validated_state")
    task_run = event.payload.get("task_run")
    problem = None
    if task_run_id is None:
        problem = "its resource is not a prefect.task-run.<uuid>"
    elif not isinstance(state, dict) or state.get("type") not in STATE_TYPES:
        problem = "payload.validated_state has no valid state type"
    elif not isinstance(task_run, dict) or not task_run.get("task_key") or task_run.get("dynamic_key") is None:
        problem = "payload.task_run lacks task_key or dynamic_key"
    if problem:
        logger.warning("Event %s (%s) not recorded as a task run: %s", event.id, event.event, problem)
        return None
    flow_run_resource = next((r for r in event.related if r.get("prefect.resource.role") == "flow-run"), None)
    flow_run_id = object_id(flow_run_resource and flow_run_resource.get("prefect.resource.id"), FLOW_RUN_PREFIX)
    return TaskRunChange(task_run_id, flow_run_id, event.id, event.occurred, state, task_run, flow_run_id)


def record_task_runs(events: list[EventIn]) -> None:
    """Fold the task-run events of a batch into task runs; other events are ignored."""
    changes = [change for event in events if is_task_run_event(event) if (change := read_change(event))]
    if not changes:
        return
    known_flow_runs = existing_flow_run_ids({c.flow_run_id for c in changes if c.flow_run_id})
    for change in changes:
        if change.flow_run_id not in known_flow_runs:
            # The flow run is not (yet) here: keep the task run, without the link the FK would refuse.
            change.flow_run_id = None

    rows = TaskRunIndex(load_task_runs(changes))
    targets: dict[UUID, list[TaskRunChange]] = {}
    new_ids: set[UUID] = set()
    for change in sorted(changes, key=lambda c: c.order):
        row = rows.find(change)
        if row is None:
            row = rows.add(change.task_run_id, change.natural_key, None, None)
            new_ids.add(change.task_run_id)
        targets.setdefault(row.id, []).append(change)

    now = django_timezone.now()
    inserts, updates = [], []
    for task_run_id, run_changes in targets.items():
        latest = run_changes[-1]
        row = rows.by_id[task_run_id]
        if task_run_id in new_ids:
            inserts.append(task_run_row(task_run_id, latest, now, latest.flow_run_id))
        elif row.state_order is None or latest.order > row.state_order:
            updates.append(task_run_row(task_run_id, latest, now, flow_run_id=flow_run_to_keep(row, latest, rows)))
    if inserts:
        insert_rows(TaskRun, INSERTED_COLUMNS, inserts)
        redirect_lost_inserts(targets, rows, new_ids)
    update_rows(TaskRun, UPDATED_COLUMNS, updates)
    insert_rows(
        TaskRunState,
        STATE_COLUMNS,
        [state_row(task_run_id, change, now) for task_run_id, run_changes in targets.items() for change in run_changes],
    )


def existing_flow_run_ids(ids: set[UUID]) -> set[UUID]:
    return set(FlowRun.objects.filter(id__in=ids).values_list("id", flat=True)) if ids else set()


@dataclass
class StoredTaskRun:
    id: UUID
    natural_key: tuple | None
    flow_run_id: UUID | None
    state_order: tuple[datetime, UUID] | None


class TaskRunIndex:
    """Stored task runs by id and by natural key, plus the ones this batch is about to insert."""

    def __init__(self, stored: list[StoredTaskRun]):
        self.by_id: dict[UUID, StoredTaskRun] = {}
        self.by_key: dict[tuple, StoredTaskRun] = {}
        for row in stored:
            self.by_id[row.id] = row
            if row.natural_key:
                self.by_key[row.natural_key] = row

    def find(self, change: TaskRunChange) -> StoredTaskRun | None:
        return self.by_id.get(change.task_run_id) or (change.natural_key and self.by_key.get(change.natural_key))

    def add(self, task_run_id, natural_key, flow_run_id, state_order) -> StoredTaskRun:
        row = StoredTaskRun(task_run_id, natural_key, flow_run_id, state_order)
        self.by_id[task_run_id] = row
        if natural_key:
            self.by_key.setdefault(natural_key, row)
        return row


def load_task_runs(changes: list[TaskRunChange], ids=None) -> list[StoredTaskRun]:
    """Rows matching any change by id or by natural key, locked (PostgreSQL) in id order."""
    ids = {c.task_run_id for c in changes} if ids is None else ids
    keys = {c.natural_key for c in changes if c.natural_key}
    condition = Q(id__in=ids)
    if keys:
        # A superset of the natural keys, narrowed in Python: one short query however many keys.
        condition |= Q(flow_run_id__in={k[0] for k in keys}, task_key__in={k[1] for k in keys})
    stored = []
    query = TaskRun.objects.select_for_update().filter(condition).order_by("id")
    for row_id, flow_run_id, task_key, dynamic_key, state_timestamp, state_id in query.values_list(
        "id", "flow_run_id", "task_key", "dynamic_key", "state_timestamp", "state_id"
    ):
        natural_key = (flow_run_id, task_key, dynamic_key) if flow_run_id else None
        if row_id in ids or natural_key in keys:
            order = (state_timestamp, state_id) if state_timestamp and state_id else None
            stored.append(StoredTaskRun(row_id, natural_key, flow_run_id, order))
    return stored


def redirect_lost_inserts(targets: dict, rows: TaskRunIndex, new_ids: set[UUID]) -> None:
    """A concurrent recorder may have inserted the same natural key first; point our states at its row."""
    changes = [change for task_run_id in new_ids for change in targets[task_run_id]]
    stored = TaskRunIndex(load_task_runs(changes, ids=new_ids))
    for task_run_id in list(new_ids):
        if task_run_id in stored.by_id:
            continue
        key = rows.by_id[task_run_id].natural_key
        winner = stored.by_key.get(key) if key else None
        moved = targets.pop(task_run_id)
        if winner is None:
            logger.warning("Task run %s could not be recorded; %d state(s) dropped", task_run_id, len(moved))
            continue
        targets.setdefault(winner.id, []).extend(moved)


def as_datetime(value) -> datetime | None:
    if value is None or isinstance(value, datetime):
        return value
    parsed = parse_datetime(str(value))
    if parsed is not None and parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    return parsed


def as_duration(value) -> timedelta:
    """Seconds as a number (what the client sends) or an ISO 8601 duration."""
    if isinstance(value, (int, float)):
        return timedelta(seconds=value)
    return (parse_duration(value) if isinstance(value, str) else None) or timedelta(0)


def as_count(value) -> int:
    try:
        return int(value or 0)
    except (TypeError, ValueError):
        return 0


def flow_run_to_keep(row: StoredTaskRun, change: TaskRunChange, rows: TaskRunIndex) -> UUID | None:
    """A stored link is never moved; a missing one is filled once its flow run exists, unless
    another row already holds that natural key (the unique constraint would refuse it)."""
    if row.flow_run_id or change.natural_key is None:
        return row.flow_run_id
    holder = rows.by_key.get(change.natural_key)
    return change.flow_run_id if holder is None or holder.id == row.id else None


def task_run_row(task_run_id: UUID, change: TaskRunChange, now: datetime, flow_run_id: UUID | None) -> dict:
    """The TaskRun columns the change sets (all of them: the run row mirrors its latest event)."""
    payload = change.task_run
    fields = {name: as_datetime(payload.get(name)) for name in DATETIME_COLUMNS}
    fields |= {name: (str(payload[name]) if payload.get(name) is not None else None) for name in TEXT_COLUMNS}
    fields |= {
        name: (payload.get(name) if isinstance(payload.get(name), kind) else kind()) for name, kind in JSON_COLUMNS.items()
    }
    fields |= {name: as_count(payload.get(name)) for name in COUNT_COLUMNS}
    total_run_time = as_duration(payload.get("total_run_time"))
    return dict(
        id=task_run_id,
        flow_run_id=flow_run_id,
        task_key=str(payload["task_key"]),
        dynamic_key=str(payload["dynamic_key"]),
        name=str(payload.get("name") or payload["task_key"])[:255],
        total_run_time=total_run_time,
        state_id=change.state_id,
        state_type=change.state["type"],
        state_name=str(change.state.get("name") or change.state["type"].title())[:255],
        state_timestamp=change.timestamp,
        created=now,
        updated=now,
        **fields,
    )


def state_row(task_run_id: UUID, change: TaskRunChange, now: datetime) -> dict:
    details = change.state.get("state_details")
    details = dict(details) if isinstance(details, dict) else {}
    details["task_run_id"] = str(task_run_id)
    details["flow_run_id"] = str(change.reported_flow_run_id) if change.reported_flow_run_id else None
    return dict(
        id=change.state_id,
        task_run_id=task_run_id,
        type=change.state["type"],
        name=str(change.state.get("name") or change.state["type"].title())[:255],
        message=change.state.get("message"),
        state_details=details,
        data=change.state.get("data"),
        timestamp=change.timestamp,
        created=now,
        updated=now,
    )

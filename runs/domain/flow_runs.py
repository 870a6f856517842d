"""Flow runs: create, read, update, delete, filter, count, history, and state changes."""

from __future__ import annotations

from datetime import timedelta

from django.db import IntegrityError, transaction
from django.db.models import Avg, Case, DateTimeField, DurationField, ExpressionWrapper, F, Q, Value, When
from django.utils import timezone

from runs.models import TERMINAL_STATE_TYPES, Flow, FlowRun, FlowRunState, TaskRun, WorkQueue
from runs.orchestration import engine

from . import filters
from .errors import InvalidInput, NotFound
from .names import random_run_name
from .runs import PENDING
from .work_pools import resolve_work_queue

DEFAULT_FLOW_RUN_POLICY = {
    "max_retries": 0,
    "retry_delay_seconds": 0.0,
    "retries": None,
    "retry_delay": None,
    "pause_keys": [],
    "resuming": False,
    "retry_type": None,
}

FLOW_RUN_SORTS = {
    "ID_DESC": ["-id"],
    "START_TIME_ASC": ["start_time", "id"],
    "START_TIME_DESC": ["-start_time", "-id"],
    "EXPECTED_START_TIME_ASC": ["expected_start_time", "id"],
    "EXPECTED_START_TIME_DESC": ["-expected_start_time", "-id"],
    "NAME_ASC": ["name", "id"],
    "NAME_DESC": ["-name", "-id"],
    "NEXT_SCHEDULED_START_TIME_ASC": ["next_scheduled_start_time", "id"],
    "END_TIME_DESC": ["-end_time", "-id"],
}


def create_flow_run(
    *,
    flow_id,
    state: dict | None = None,
    idempotency_key: str | None = None,
    parent_task_run_id=None,
    empirical_policy: dict | None = None,
    name: str | None = None,
    client_version: str | None = None,
    work_pool_name: str | None = None,
    **fields,
) -> tuple[FlowRun, bool]:
    """Create a run of the flow in its initial state (Pending unless given). Returns (run, created).

    With an idempotency key, a second request returns the run the first one created.
    """
    if not Flow.objects.filter(id=flow_id).exists():
        raise NotFound("Flow not found")
    if idempotency_key:
        existing = _with_state().filter(flow_id=flow_id, idempotency_key=idempotency_key).first()
        if existing:
            return existing, False
    if parent_task_run_id and not TaskRun.objects.filter(id=parent_task_run_id).exists():
        raise NotFound("Parent task run not found")
    queue = resolve_work_queue(work_pool_name=work_pool_name, work_queue_name=fields.get("work_queue_name"))
    if queue:
        fields.update(work_queue_id=queue.id, work_queue_name=queue.name)
    try:
        with transaction.atomic():
            run = FlowRun.objects.create(
                flow_id=flow_id,
                name=name or random_run_name(),
                idempotency_key=idempotency_key,
                parent_task_run_id=parent_task_run_id,
                empirical_policy={**DEFAULT_FLOW_RUN_POLICY, **(empirical_policy or {})},
                **fields,
            )
            engine.orchestrate_flow_run(
                flow_run_id=run.id, proposed=state or PENDING, force=True, client_version=client_version
            )
    except IntegrityError:
        if idempotency_key:  # a concurrent request with the same key won the race
            return _with_state().get(flow_id=flow_id, idempotency_key=idempotency_key), False
        raise
    return read_flow_run(flow_run_id=run.id), True


def _with_state():
    return FlowRun.objects.select_related("state")


def read_flow_run(*, flow_run_id) -> FlowRun:
    try:
        return _with_state().get(id=flow_run_id)
    except FlowRun.DoesNotExist:
        raise NotFound("Flow run not found") from None


UPDATABLE_FIELDS = ("name", "flow_version", "parameters", "empirical_policy", "tags", "infrastructure_pid", "job_variables")


def update_flow_run(*, flow_run_id, **changes) -> None:
    """Change the given fields (None means "leave as is")."""
    changes = {key: value for key, value in changes.items() if value is not None}
    unknown = set(changes) - set(UPDATABLE_FIELDS)
    if unknown:
        raise InvalidInput(f"Cannot update {', '.join(sorted(unknown))}")
    with transaction.atomic():
        run = FlowRun.objects.select_for_update().filter(id=flow_run_id).first()
        if run is None:
            raise NotFound("Flow run not found")
        if "empirical_policy" in changes:
            changes["empirical_policy"] = {**run.empirical_policy, **changes["empirical_policy"]}
        for key, value in changes.items():
            setattr(run, key, value)
        run.save(update_fields=[*changes, "updated"])


def update_flow_run_labels(*, flow_run_id, labels: dict) -> None:
    with transaction.atomic():
        run = FlowRun.objects.select_for_update().filter(id=flow_run_id).first()
        if run is None:
            raise NotFound("Flow run not found")
        run.labels = {**(run.labels or {}), **labels}
        run.save(update_fields=["labels", "updated"])


def delete_flow_run(*, flow_run_id) -> None:
    deleted, _ = FlowRun.objects.filter(id=flow_run_id).delete()
    if not deleted:
        raise NotFound("Flow run not found")


def delete_flow_runs(**filter_kwargs) -> list:
    ids = list(FlowRun.objects.filter(filters.flow_run_q(**filter_kwargs)).values_list("id", flat=True)[:200])
    FlowRun.objects.filter(id__in=ids).delete()
    return ids


def read_flow_runs(*, sort: str = "ID_DESC", window: slice | None = None, **filter_kwargs) -> list[FlowRun]:
    queryset = _with_state().filter(filters.flow_run_q(**filter_kwargs)).order_by(*FLOW_RUN_SORTS[sort])
    return list(queryset[window] if window else queryset)


def count_flow_runs(**filter_kwargs) -> int:
    return FlowRun.objects.filter(filters.flow_run_q(**filter_kwargs)).count()


def set_flow_run_state(*, flow_run_id, state: dict, force: bool = False, client_version: str | None = None):
    """Propose a new state; orchestration decides (see runs/orchestration)."""
    return engine.orchestrate_flow_run(
        flow_run_id=flow_run_id, proposed=state, force=force, client_version=client_version
    )


def work_pools_of_queues(queue_ids: set) -> dict:
    """{work queue id: (work pool id, work pool name)}, in one query."""
    if not queue_ids:
        return {}
    rows = WorkQueue.objects.filter(id__in=queue_ids).values_list("id", "work_pool_id", "work_pool__name")
    return {queue_id: (pool_id, pool_name) for queue_id, pool_id, pool_name in rows}


def read_flow_run_states(*, flow_run_id) -> list[FlowRunState]:
    return list(FlowRunState.objects.filter(flow_run_id=flow_run_id).order_by("timestamp"))


def read_flow_run_state(*, state_id) -> FlowRunState:
    try:
        return FlowRunState.objects.get(id=state_id)
    except FlowRunState.DoesNotExist:
        raise NotFound("Flow run state not found") from None


BULK_SET_STATE_LIMIT = 50


def bulk_set_flow_run_state(*, flow_runs=None, state: dict, force: bool = False, limit: int = BULK_SET_STATE_LIMIT,
                            client_version: str | None = None) -> list[dict]:
    """Propose one state to each matching run (at most `limit`), each in its own transaction; a run that
    cannot be orchestrated (deleted meanwhile...) is reported ABORT with the reason, the others go on."""
    ids = list(FlowRun.objects.filter(filters.flow_run_q(flow_runs=flow_runs)).order_by("-id")
               .values_list("id", flat=True)[:limit])
    results = []
    for flow_run_id in ids:
        try:
            result = set_flow_run_state(flow_run_id=flow_run_id, state=dict(state), force=force,
                                        client_version=client_version)
        except (NotFound, InvalidInput) as exc:
            results.append({"flow_run_id": flow_run_id, "status": "ABORT", "state": None,
                            "details": {"type": "abort_details", "reason": str(exc)}})
            continue
        results.append({"flow_run_id": flow_run_id, "status": result.status, "state": result.state,
                        "details": result.details})
    return results


def average_flow_run_lateness(**filter_kwargs) -> float | None:
    """Mean seconds the matching runs started after their expected start; a run still waiting counts
    the time it has waited so far, a run that ended without starting counts zero. None when none match."""
    now = timezone.now()
    waited = ExpressionWrapper(Value(now, output_field=DateTimeField()) - F("expected_start_time"),
                               output_field=DurationField())
    started_late = ExpressionWrapper(F("start_time") - F("expected_start_time"), output_field=DurationField())
    lateness = Case(
        When(start_time__gt=F("expected_start_time"), then=started_late),
        When(Q(start_time__isnull=True, expected_start_time__lt=now) & ~Q(state_type__in=TERMINAL_STATE_TYPES),
             then=waited),
        default=Value(timedelta(0)),
        output_field=DurationField(),
    )
    average = FlowRun.objects.filter(filters.flow_run_q(**filter_kwargs)).aggregate(value=Avg(lateness))["value"]
    if average is None:
        return None
    return average.total_seconds() if isinstance(average, timedelta) else float(average)

"""Task runs created over REST (the client does so for subflows' parent tasks) and read back.

Most task runs arrive as events instead; runs.domain.events folds those into the same rows.
"""

from __future__ import annotations

from django.db import IntegrityError, transaction

from runs.models import FlowRun, TaskRun, TaskRunState
from runs.orchestration import engine

from . import filters
from .errors import NotFound
from .runs import PENDING

DEFAULT_TASK_RUN_POLICY = {
    "max_retries": 0,
    "retry_delay_seconds": 0.0,
    "retries": 0,
    "retry_delay": 0,
    "retry_jitter_factor": None,
}

TASK_RUN_SORTS = {
    "ID_DESC": ["-id"],
    "EXPECTED_START_TIME_ASC": ["expected_start_time", "id"],
    "EXPECTED_START_TIME_DESC": ["-expected_start_time", "-id"],
    "NAME_ASC": ["name", "id"],
    "NAME_DESC": ["-name", "-id"],
    "NEXT_SCHEDULED_START_TIME_ASC": ["next_scheduled_start_time", "id"],
    "END_TIME_DESC": ["-end_time", "-id"],
}


def _with_state():
    return TaskRun.objects.select_related("state")


def create_task_run(
    *,
    flow_run_id=None,
    task_key: str,
    dynamic_key: str,
    state: dict | None = None,
    empirical_policy: dict | None = None,
    client_version: str | None = None,
    **fields,
) -> tuple[TaskRun, bool]:
    """Create the task run, or return the one with the same (flow run, task key, dynamic key)."""
    if flow_run_id and not FlowRun.objects.filter(id=flow_run_id).exists():
        raise NotFound("Flow run not found")
    natural_key = {"flow_run_id": flow_run_id, "task_key": task_key, "dynamic_key": dynamic_key}
    if flow_run_id:
        existing = _with_state().filter(**natural_key).first()
        if existing:
            return existing, False
    if fields.get("id") and TaskRun.objects.filter(id=fields["id"]).exists():
        return read_task_run(task_run_id=fields["id"]), False
    try:
        with transaction.atomic():
            run = TaskRun.objects.create(
                **natural_key,
                empirical_policy={**DEFAULT_TASK_RUN_POLICY, **(empirical_policy or {})},
                **{key: value for key, value in fields.items() if value is not None},
            )
            engine.orchestrate_task_run(
                task_run_id=run.id, proposed=state or PENDING, force=True, client_version=client_version
            )
    except IntegrityError:  # a concurrent request (or the event recorder) created it first
        return _with_state().get(**natural_key), False
    return read_task_run(task_run_id=run.id), True


def read_task_run(*, task_run_id) -> TaskRun:
    try:
        return _with_state().get(id=task_run_id)
    except TaskRun.DoesNotExist:
        raise NotFound("Task run not found") from None


def update_task_run(*, task_run_id, name: str | None = None) -> None:
    run = read_task_run(task_run_id=task_run_id)
    if name is not None:
        run.name = name
        run.save(update_fields=["name", "updated"])


def delete_task_run(*, task_run_id) -> None:
    deleted, _ = TaskRun.objects.filter(id=task_run_id).delete()
    if not deleted:
        raise NotFound("Task run not found")


def read_task_runs(*, sort: str = "ID_DESC", window: slice | None = None, **filter_kwargs) -> list[TaskRun]:
    queryset = _with_state().filter(filters.task_run_q(**filter_kwargs)).order_by(*TASK_RUN_SORTS[sort])
    return list(queryset[window] if window else queryset)


def count_task_runs(**filter_kwargs) -> int:
    return TaskRun.objects.filter(filters.task_run_q(**filter_kwargs)).count()


def set_task_run_state(*, task_run_id, state: dict, force: bool = False, client_version: str | None = None):
    return engine.orchestrate_task_run(
        task_run_id=task_run_id, proposed=state, force=force, client_version=client_version
    )


def read_task_run_states(*, task_run_id) -> list[TaskRunState]:
    return list(TaskRunState.objects.filter(task_run_id=task_run_id).order_by("timestamp"))


def read_task_run_state(*, state_id) -> TaskRunState:
    try:
        return TaskRunState.objects.get(id=state_id)
    except TaskRunState.DoesNotExist:
        raise NotFound("Task run state not found") from None

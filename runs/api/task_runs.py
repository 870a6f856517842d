from datetime import datetime, timedelta
from typing import Any, Literal
from uuid import UUID

from ninja import Router, Schema
from pydantic import Field

from runs.domain import filters
from runs.domain import task_runs as domain
from runs.domain.runs import run_history
from runs.models import TaskRun

from .base import no_content
from .common import (
    InputSchema,
    OrchestrationResultOut,
    Paging,
    RunFilterBody,
    SetStateIn,
    StateIn,
    StateOut,
    client_version,
    json_response,
    run_timing_json,
    PageRequest,
    orchestration_response,
)
from .flow_runs import HistoryBody, HistoryOut

router = Router(tags=["Task Runs"])

TaskRunSort = Literal[tuple(domain.TASK_RUN_SORTS)]


class TaskRunCreate(InputSchema):
    id: UUID | None = None
    state: StateIn | None = None
    name: str | None = Field(default=None, max_length=255)
    flow_run_id: UUID | None = None
    task_key: str = Field(max_length=255)
    dynamic_key: str = Field(max_length=255)
    cache_key: str | None = None
    cache_expiration: datetime | None = None
    task_version: str | None = None
    empirical_policy: dict[str, Any] | None = None
    tags: list[str] | None = None
    labels: dict[str, Any] | None = None
    task_inputs: dict[str, Any] | None = None


class TaskRunUpdate(InputSchema):
    name: str | None = Field(default=None, max_length=255)


class TaskRunOut(Schema):
    id: UUID
    created: datetime
    updated: datetime
    name: str
    flow_run_id: UUID | None
    task_key: str
    dynamic_key: str
    cache_key: str | None
    cache_expiration: datetime | None
    task_version: str | None
    empirical_policy: dict
    tags: list[str]
    labels: dict
    state_id: UUID | None
    task_inputs: dict
    state_type: str | None
    state_name: str | None
    run_count: int
    flow_run_run_count: int
    expected_start_time: datetime | None
    next_scheduled_start_time: datetime | None
    start_time: datetime | None
    end_time: datetime | None
    total_run_time: timedelta
    estimated_run_time: timedelta
    estimated_start_time_delta: timedelta
    state: StateOut | None


def task_run_json(run) -> dict:
    return {
        "id": run.id,
        "created": run.created,
        "updated": run.updated,
        "name": run.name,
        "flow_run_id": run.flow_run_id,
        "task_key": run.task_key,
        "dynamic_key": run.dynamic_key,
        "cache_key": run.cache_key,
        "cache_expiration": run.cache_expiration,
        "task_version": run.task_version,
        "empirical_policy": run.empirical_policy,
        "tags": run.tags,
        "labels": run.labels,
        "task_inputs": run.task_inputs,
        "flow_run_run_count": run.flow_run_run_count,
        **run_timing_json(run),
    }


class TaskRunFilterBody(RunFilterBody, Paging):
    sort: TaskRunSort | None = None


class TaskRunPaginateBody(RunFilterBody, PageRequest):
    sort: TaskRunSort | None = None


class TaskRunPage(Schema):
    results: list[TaskRunOut]
    count: int
    limit: int
    pages: int
    page: int


@router.post("/task_runs/", response={200: TaskRunOut, 201: TaskRunOut})
def create_task_run(request, body: TaskRunCreate):
    fields = body.model_dump(exclude={"state"}, exclude_none=True)
    run, created = domain.create_task_run(
        state=body.state.as_proposal() if body.state else None, client_version=client_version(request), **fields
    )
    return json_response(task_run_json(run), status=201 if created else 200)


@router.post("/task_runs/filter", response=list[TaskRunOut])
def read_task_runs(request, body: TaskRunFilterBody | None = None):
    body = body or TaskRunFilterBody()
    runs = domain.read_task_runs(sort=body.sort or "ID_DESC", window=body.window(), **body.filter_kwargs())
    return json_response([task_run_json(run) for run in runs])


@router.post("/task_runs/count", response=int)
def count_task_runs(request, body: RunFilterBody | None = None):
    return domain.count_task_runs(**(body or RunFilterBody()).filter_kwargs())


@router.post("/task_runs/paginate", response=TaskRunPage)
def paginate_task_runs(request, body: TaskRunPaginateBody | None = None):
    body = body or TaskRunPaginateBody()
    runs = domain.read_task_runs(sort=body.sort or "ID_DESC", window=body.window(), **body.filter_kwargs())
    return json_response(body.page_json([task_run_json(run) for run in runs], domain.count_task_runs(**body.filter_kwargs())))


@router.post("/task_runs/history", response=list[HistoryOut])
def task_run_history(request, body: HistoryBody):
    return run_history(
        model=TaskRun,
        start=body.history_start,
        end=body.history_end,
        interval=timedelta(seconds=body.history_interval_seconds),
        query=filters.task_run_q(**body.filter_kwargs()),
    )


@router.get("/task_runs/{id}", response=TaskRunOut)
def read_task_run(request, id: UUID):
    return json_response(task_run_json(domain.read_task_run(task_run_id=id)))


@router.patch("/task_runs/{id}")
def update_task_run(request, id: UUID, body: TaskRunUpdate):
    domain.update_task_run(task_run_id=id, name=body.name)
    return no_content()


@router.delete("/task_runs/{id}")
def delete_task_run(request, id: UUID):
    domain.delete_task_run(task_run_id=id)
    return no_content()


@router.post("/task_runs/{id}/set_state", response={200: OrchestrationResultOut, 201: OrchestrationResultOut})
def set_task_run_state(request, id: UUID, body: SetStateIn):
    result = domain.set_task_run_state(
        task_run_id=id, state=body.state.as_proposal(), force=body.force, client_version=client_version(request)
    )
    return orchestration_response(result)


@router.get("/task_run_states/", response=list[StateOut])
def read_task_run_states(request, task_run_id: UUID):
    return domain.read_task_run_states(task_run_id=task_run_id)


@router.get("/task_run_states/{id}", response=StateOut)
def read_task_run_state(request, id: UUID):
    return domain.read_task_run_state(state_id=id)

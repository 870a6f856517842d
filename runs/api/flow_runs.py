from datetime import datetime, timedelta
from typing import Any, Literal
from uuid import UUID

from ninja import Router, Schema
from pydantic import ConfigDict, Field

from runs.domain import filters, flow_run_graph
from runs.domain import flow_runs as domain
from runs.domain.runs import run_history
from runs.models import FlowRun

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
    state_json,
)

router = Router(tags=["Flow Runs"])

FlowRunSort = Literal[tuple(domain.FLOW_RUN_SORTS)]


class FlowRunCreate(InputSchema):
    state: StateIn | None = None
    name: str | None = Field(default=None, max_length=255)
    flow_id: UUID
    flow_version: str | None = None
    parameters: dict[str, Any] | None = None
    context: dict[str, Any] | None = None
    parent_task_run_id: UUID | None = None
    infrastructure_document_id: UUID | None = None
    empirical_policy: dict[str, Any] | None = None
    tags: list[str] | None = None
    labels: dict[str, Any] | None = None
    idempotency_key: str | None = Field(default=None, max_length=255)
    work_pool_name: str | None = None
    work_queue_name: str | None = None
    job_variables: dict[str, Any] | None = None
    deployment_id: UUID | None = None


class FlowRunUpdate(InputSchema):
    name: str | None = Field(default=None, max_length=255)
    flow_version: str | None = None
    parameters: dict[str, Any] | None = None
    empirical_policy: dict[str, Any] | None = None
    tags: list[str] | None = None
    infrastructure_pid: str | None = None
    job_variables: dict[str, Any] | None = None


class FlowRunOut(Schema):
    id: UUID
    created: datetime
    updated: datetime
    name: str
    flow_id: UUID
    state_id: UUID | None
    deployment_id: UUID | None
    deployment_version: str | None
    work_queue_id: UUID | None
    work_queue_name: str | None
    flow_version: str | None
    parameters: dict
    idempotency_key: str | None
    context: dict
    empirical_policy: dict
    tags: list[str]
    labels: dict
    parent_task_run_id: UUID | None
    state_type: str | None
    state_name: str | None
    run_count: int
    expected_start_time: datetime | None
    next_scheduled_start_time: datetime | None
    start_time: datetime | None
    end_time: datetime | None
    total_run_time: timedelta
    estimated_run_time: timedelta
    estimated_start_time_delta: timedelta
    auto_scheduled: bool
    infrastructure_document_id: UUID | None
    infrastructure_pid: str | None
    created_by: dict | None
    work_pool_id: UUID | None = None
    work_pool_name: str | None = None
    state: StateOut | None
    job_variables: dict | None


def flow_runs_json(runs) -> list[dict]:
    """Runs in wire shape; their work pools come from one query for the whole list."""
    pools = domain.work_pools_of_queues({run.work_queue_id for run in runs if run.work_queue_id})
    return [_flow_run_json(run, *pools.get(run.work_queue_id, (None, None))) for run in runs]


def flow_run_json(run) -> dict:
    return flow_runs_json([run])[0]


def _flow_run_json(run, work_pool_id, work_pool_name) -> dict:
    return {
        "id": run.id,
        "created": run.created,
        "updated": run.updated,
        "name": run.name,
        "flow_id": run.flow_id,
        "deployment_id": run.deployment_id,
        "deployment_version": run.deployment_version,
        "work_queue_id": run.work_queue_id,
        "work_queue_name": run.work_queue_name,
        "flow_version": run.flow_version,
        "parameters": run.parameters,
        "idempotency_key": run.idempotency_key,
        "context": run.context,
        "empirical_policy": run.empirical_policy,
        "tags": run.tags,
        "labels": run.labels,
        "parent_task_run_id": run.parent_task_run_id,
        "auto_scheduled": run.auto_scheduled,
        "infrastructure_document_id": run.infrastructure_document_id,
        "infrastructure_pid": run.infrastructure_pid,
        "created_by": run.created_by,
        "work_pool_id": work_pool_id,
        "work_pool_name": work_pool_name,
        "job_variables": run.job_variables,
        **run_timing_json(run),
    }


class FlowRunFilterBody(RunFilterBody, Paging):
    sort: FlowRunSort | None = None


class FlowRunPaginateBody(RunFilterBody, PageRequest):
    sort: FlowRunSort | None = None


class FlowRunPage(Schema):
    results: list[FlowRunOut]
    count: int
    limit: int
    pages: int
    page: int


class HistoryBody(RunFilterBody):
    history_start: datetime
    history_end: datetime
    history_interval_seconds: float


class HistoryStateOut(Schema):
    state_type: str
    state_name: str
    count_runs: int
    sum_estimated_run_time: float
    sum_estimated_lateness: float


class HistoryOut(Schema):
    interval_start: datetime
    interval_end: datetime
    states: list[HistoryStateOut]


@router.post("/flow_runs/", response={200: FlowRunOut, 201: FlowRunOut})
def create_flow_run(request, body: FlowRunCreate):
    fields = body.model_dump(exclude={"state"}, exclude_none=True)
    run, created = domain.create_flow_run(
        state=body.state.as_proposal() if body.state else None, client_version=client_version(request), **fields
    )
    return json_response(flow_run_json(run), status=201 if created else 200)


@router.post("/flow_runs/filter", response=list[FlowRunOut])
def read_flow_runs(request, body: FlowRunFilterBody | None = None):
    body = body or FlowRunFilterBody()
    runs = domain.read_flow_runs(sort=body.sort or "ID_DESC", window=body.window(), **body.filter_kwargs())
    return json_response(flow_runs_json(runs))


@router.post("/flow_runs/count", response=int)
def count_flow_runs(request, body: RunFilterBody | None = None):
    return domain.count_flow_runs(**(body or RunFilterBody()).filter_kwargs())


@router.post("/flow_runs/paginate", response=FlowRunPage)
def paginate_flow_runs(request, body: FlowRunPaginateBody | None = None):
    body = body or FlowRunPaginateBody()
    runs = domain.read_flow_runs(sort=body.sort or "ID_DESC", window=body.window(), **body.filter_kwargs())
    return json_response(body.page_json(flow_runs_json(runs), domain.count_flow_runs(**body.filter_kwargs())))


@router.post("/flow_runs/history", response=list[HistoryOut])
def flow_run_history(request, body: HistoryBody):
    return run_history(
        model=FlowRun,
        start=body.history_start,
        end=body.history_end,
        interval=timedelta(seconds=body.history_interval_seconds),
        query=filters.flow_run_q(**body.filter_kwargs()),
    )


@router.post("/flow_runs/bulk_delete")
def bulk_delete_flow_runs(request, body: RunFilterBody | None = None):
    return {"deleted": domain.delete_flow_runs(**(body or RunFilterBody()).filter_kwargs())}


class BulkSetStateBody(InputSchema):
    flow_runs: filters.FlowRunFilter | None = None
    state: StateIn
    force: bool = False
    limit: int = Field(default=domain.BULK_SET_STATE_LIMIT, ge=1, le=domain.BULK_SET_STATE_LIMIT)


@router.post("/flow_runs/bulk_set_state", response=dict)
def bulk_set_flow_run_state(request, body: BulkSetStateBody):
    results = domain.bulk_set_flow_run_state(
        flow_runs=body.flow_runs, state=body.state.as_proposal(), force=body.force, limit=body.limit,
        client_version=client_version(request),
    )
    for result in results:
        result["state"] = state_json(result["state"])
    return json_response({"results": results})


@router.post("/flow_runs/lateness", response=float | None)
def average_flow_run_lateness(request, body: RunFilterBody | None = None):
    return domain.average_flow_run_lateness(**(body or RunFilterBody()).filter_kwargs())


@router.get("/flow_runs/{id}", response=FlowRunOut)
def read_flow_run(request, id: UUID):
    return json_response(flow_run_json(domain.read_flow_run(flow_run_id=id)))


@router.patch("/flow_runs/{id}")
def update_flow_run(request, id: UUID, body: FlowRunUpdate):
    domain.update_flow_run(flow_run_id=id, **body.model_dump(exclude_unset=True))
    return no_content()


class LabelsUpdate(InputSchema):
    model_config = ConfigDict(extra="allow")


@router.patch("/flow_runs/{id}/labels")
def update_flow_run_labels(request, id: UUID, body: LabelsUpdate):
    domain.update_flow_run_labels(flow_run_id=id, labels=body.model_dump())
    return no_content()


@router.delete("/flow_runs/{id}")
def delete_flow_run(request, id: UUID):
    domain.delete_flow_run(flow_run_id=id)
    return no_content()


@router.post("/flow_runs/{id}/set_state", response={200: OrchestrationResultOut, 201: OrchestrationResultOut})
def set_flow_run_state(request, id: UUID, body: SetStateIn):
    result = domain.set_flow_run_state(
        flow_run_id=id, state=body.state.as_proposal(), force=body.force, client_version=client_version(request)
    )
    return orchestration_response(result)


@router.get("/flow_run_states/", response=list[StateOut])
def read_flow_run_states(request, flow_run_id: UUID):
    return domain.read_flow_run_states(flow_run_id=flow_run_id)


@router.get("/flow_run_states/{id}", response=StateOut)
def read_flow_run_state(request, id: UUID):
    return domain.read_flow_run_state(state_id=id)


@router.get("/flow_runs/{id}/graph", tags=["Flow Run Graph"], response=list[dict])
def read_flow_run_graph_v1(request, id: UUID):
    return json_response(flow_run_graph.read_task_run_dependencies(flow_run_id=id))


@router.get("/flow_runs/{id}/graph-v2", tags=["Flow Run Graph"], response=dict)
def read_flow_run_graph_v2(request, id: UUID, since: datetime | None = None):
    try:
        return json_response(flow_run_graph.read_flow_run_graph(flow_run_id=id, since=since))
    except flow_run_graph.GraphTooLarge as exc:
        return json_response({"detail": str(exc)}, status=400)

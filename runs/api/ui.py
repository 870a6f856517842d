"""The /ui/* aggregates the Prefect UI reads (flows list, runs list, dashboard, task run page)."""

from typing import Any, Literal
from uuid import UUID

from ninja import Router
from pydantic import Field

from runs.domain import filters
from runs.domain import ui as domain
from runs.domain.flow_runs import FLOW_RUN_SORTS

from .base import json_response
from .common import InputSchema, RunFilterBody
from .task_runs import task_run_json

router = Router(tags=["UI"])


class FlowIdsBody(InputSchema):
    flow_ids: list[UUID] = Field(max_length=domain.MAX_IDS)


class FlowRunIdsBody(InputSchema):
    flow_run_ids: list[UUID] = Field(max_length=domain.MAX_IDS)


class FlowRunHistoryBody(RunFilterBody):
    sort: Literal[tuple(FLOW_RUN_SORTS)] | None = None
    limit: int = Field(default=domain.MAX_HISTORY, ge=0, le=domain.MAX_HISTORY)
    offset: int = Field(default=0, ge=0)


class DashboardCountsBody(RunFilterBody):
    task_runs: filters.TaskRunFilter


@router.post("/ui/flows/count-deployments", response=dict[UUID, int])
def count_deployments_by_flow(request, body: FlowIdsBody):
    return domain.count_deployments_by_flow(flow_ids=body.flow_ids)


@router.post("/ui/flows/next-runs", response=dict)
def next_runs_by_flow(request, body: FlowIdsBody):
    return json_response(domain.next_runs_by_flow(flow_ids=body.flow_ids))


@router.post("/ui/flow_runs/history", response=list[dict])
def flow_run_history(request, body: FlowRunHistoryBody | None = None):
    body = body or FlowRunHistoryBody()
    window = slice(body.offset, body.offset + body.limit)
    history = domain.flow_run_history(sort=body.sort or "EXPECTED_START_TIME_DESC", window=window,
                                      **body.filter_kwargs())
    return json_response(history)


@router.post("/ui/flow_runs/count-task-runs", response=dict[UUID, int])
def count_task_runs_by_flow_run(request, body: FlowRunIdsBody):
    return domain.count_task_runs_by_flow_run(flow_run_ids=body.flow_run_ids)


@router.post("/ui/task_runs/count", response=dict[str, int])
def count_task_runs_by_state(request, body: RunFilterBody | None = None):
    return domain.count_task_runs_by_state(**(body or RunFilterBody()).filter_kwargs())


@router.post("/ui/task_runs/dashboard/counts", response=list[dict])
def dashboard_task_run_counts(request, body: DashboardCountsBody):
    kwargs = body.filter_kwargs()
    kwargs.pop("task_runs")
    return domain.dashboard_task_run_counts(task_runs=body.task_runs, **kwargs)


@router.get("/ui/task_runs/{id}", response=dict)
def read_task_run_with_flow_run_name(request, id: UUID):
    run, flow_run_name = domain.read_task_run_with_flow_run_name(task_run_id=id)
    return json_response({**task_run_json(run), "flow_run_name": flow_run_name})


class SchemaValuesBody(InputSchema):
    schema_: dict[str, Any] = Field(alias="schema")
    values: dict[str, Any]


@router.post("/ui/schemas/validate", response=dict)
def validate_schema_values(request, body: SchemaValuesBody):
    return domain.validate_schema_values(schema=body.schema_, values=body.values)

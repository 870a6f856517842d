"""Resuming paused flow runs and the key/value inputs they wait for."""

from datetime import datetime
from typing import Any
from uuid import UUID

from django.http import HttpResponse
from ninja import Router, Schema
from pydantic import Field

from runs.domain import flow_run_inputs as domain

from .base import no_content
from .common import InputSchema, OrchestrationResultOut, client_version, orchestration_response

router = Router(tags=["Flow Runs"])


class ResumeBody(InputSchema):
    run_input: dict[str, Any] | None = None


class FlowRunInputCreate(InputSchema):
    key: str = Field(max_length=255)
    value: str
    sender: str | None = Field(default=None, max_length=255)


class FlowRunInputFilter(InputSchema):
    prefix: str
    limit: int | None = Field(default=1, ge=0, le=200)
    exclude_keys: list[str] | None = None


class FlowRunInputOut(Schema):
    id: UUID
    created: datetime
    updated: datetime
    flow_run_id: UUID
    key: str
    value: str
    sender: str | None


@router.post("/flow_runs/{id}/resume", response={200: OrchestrationResultOut, 201: OrchestrationResultOut})
def resume_flow_run(request, id: UUID, body: ResumeBody | None = None):
    result = domain.resume_flow_run(
        flow_run_id=id, run_input=(body.run_input if body else None), client_version=client_version(request)
    )
    return orchestration_response(result)


@router.post("/flow_runs/{id}/input", response={201: None})
def create_flow_run_input(request, id: UUID, body: FlowRunInputCreate):
    domain.create_flow_run_input(flow_run_id=id, key=body.key, value=body.value, sender=body.sender)
    return HttpResponse(status=201)


@router.post("/flow_runs/{id}/input/filter", response=list[FlowRunInputOut])
def filter_flow_run_inputs(request, id: UUID, body: FlowRunInputFilter):
    return domain.filter_flow_run_inputs(
        flow_run_id=id, prefix=body.prefix, limit=1 if body.limit is None else body.limit,
        exclude_keys=body.exclude_keys or [],
    )


@router.get("/flow_runs/{id}/input/{key}")
def read_flow_run_input(request, id: UUID, key: str):
    # The value goes back as the plain text it was stored as (JSON the client parses itself).
    return HttpResponse(domain.read_flow_run_input(flow_run_id=id, key=key).value, content_type="text/plain")


@router.delete("/flow_runs/{id}/input/{key}")
def delete_flow_run_input(request, id: UUID, key: str):
    domain.delete_flow_run_input(flow_run_id=id, key=key)
    return no_content()

"""Schemas shared by several resources: states, orchestration results, pagination and limits."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal
from uuid import UUID

from django.conf import settings
from ninja import Schema
from pydantic import BaseModel, ConfigDict, Field, field_validator

from runs.domain import filters
from runs.domain.runs import estimated_run_time, estimated_start_time_delta
from runs.models import StateType

from .base import json_response


class InputSchema(BaseModel):
    """Request bodies: unknown keys are ignored, as the reference server does."""

    model_config = ConfigDict(extra="ignore")


class StateDetailsIn(InputSchema):
    model_config = ConfigDict(extra="allow")

    flow_run_id: UUID | None = None
    task_run_id: UUID | None = None
    child_flow_run_id: UUID | None = None
    scheduled_time: datetime | None = None
    cache_key: str | None = None
    cache_expiration: datetime | None = None
    deferred: bool | None = False
    untrackable_result: bool = False
    pause_timeout: datetime | None = None
    pause_reschedule: bool = False
    pause_key: str | None = None
    run_input_keyset: dict[str, str] | None = None
    refresh_cache: bool | None = None
    retriable: bool | None = None
    transition_id: UUID | None = None
    task_parameters_id: UUID | None = None
    traceparent: str | None = None
    deployment_concurrency_lease_id: UUID | None = None

    @field_validator("untrackable_result", "pause_reschedule", mode="before")
    @classmethod
    def null_is_false(cls, value):
        return False if value is None else value


class StateIn(InputSchema):
    type: StateType
    name: str | None = None
    message: str | None = None
    data: Any = None
    state_details: StateDetailsIn | None = None
    timestamp: datetime | None = None
    id: UUID | None = None

    def as_proposal(self) -> dict:
        """The plain dict orchestration works on; JSON-ready, with the state type's default name."""
        details = (self.state_details or StateDetailsIn()).model_dump(mode="json")
        return {
            "type": self.type.value,
            "name": self.name or self.type.value.capitalize(),
            "message": self.message,
            "data": self.data,
            "state_details": details,
            "timestamp": self.timestamp,
            "id": self.id,
        }


class StateOut(Schema):
    id: UUID
    type: StateType
    name: str | None
    timestamp: datetime
    message: str | None
    data: Any = None
    state_details: dict


class SetStateIn(InputSchema):
    state: StateIn
    force: bool = False

    @field_validator("force", mode="before")
    @classmethod
    def null_is_false(cls, value):
        return False if value is None else value


class OrchestrationResultOut(Schema):
    state: StateOut | None
    status: Literal["ACCEPT", "REJECT", "ABORT", "WAIT"]
    details: dict


def limit_or_default(limit: int | None) -> int:
    if limit is None:
        return settings.API_DEFAULT_LIMIT
    return limit


class Paging(InputSchema):
    """limit/offset as the client sends them: null means the server default."""

    limit: int | None = Field(default=None, ge=0, le=settings.API_MAX_LIMIT)
    offset: int | None = Field(default=None, ge=0)

    def window(self) -> slice:
        offset = self.offset or 0
        return slice(offset, offset + limit_or_default(self.limit))


class PageRequest(InputSchema):
    """page/limit of a /paginate body; null means the defaults (page 1, the server's limit)."""

    page: int | None = Field(default=None, ge=1)
    limit: int | None = Field(default=None, ge=0, le=settings.API_MAX_LIMIT)

    def window(self) -> slice:
        limit, page = limit_or_default(self.limit), self.page or 1
        return slice((page - 1) * limit, page * limit)

    def page_json(self, results: list, count: int) -> dict:
        limit = limit_or_default(self.limit)
        pages = -(-count // limit) if limit else 0
        return {"results": results, "count": count, "limit": limit, "pages": pages, "page": self.page or 1}


class RunFilterBody(InputSchema):
    """The cross-resource filters every run/flow /filter and /count body may carry."""

    flows: filters.FlowFilter | None = None
    flow_runs: filters.FlowRunFilter | None = None
    task_runs: filters.TaskRunFilter | None = None
    deployments: filters.DeploymentFilter | None = None

    def filter_kwargs(self) -> dict:
        return {"flows": self.flows, "flow_runs": self.flow_runs, "task_runs": self.task_runs, "deployments": self.deployments}


def state_json(state) -> dict | None:
    if state is None:
        return None
    return {
        "id": state.id,
        "type": state.type,
        "name": state.name,
        "timestamp": state.timestamp,
        "message": state.message,
        "data": state.data,
        "state_details": state.state_details,
    }


def run_timing_json(run) -> dict:
    """The timing fields flow runs and task runs share, derived ones included."""
    return {
        "state_id": run.state_id,
        "state_type": run.state_type,
        "state_name": run.state_name,
        "run_count": run.run_count,
        "expected_start_time": run.expected_start_time,
        "next_scheduled_start_time": run.next_scheduled_start_time,
        "start_time": run.start_time,
        "end_time": run.end_time,
        "total_run_time": run.total_run_time,
        "estimated_run_time": estimated_run_time(run),
        "estimated_start_time_delta": estimated_start_time_delta(run),
        "state": state_json(run.state),
    }


def client_version(request) -> str | None:
    """The client's version from `User-Agent: prefect/3.8.8 (API 0.8.4)`; rules gate on it."""
    agent = request.headers.get("User-Agent", "")
    if agent.startswith("prefect/"):
        return agent[len("prefect/"):].split(" ", 1)[0]
    return None


def orchestration_response(result):
    """201 when orchestration wrote a new state, 200 otherwise, as the client expects."""
    body = {"state": state_json(result.state), "status": result.status, "details": result.details}
    return json_response(body, status=201 if result.created else 200)

from datetime import datetime
from typing import Literal
from uuid import UUID

from django.http import HttpResponse
from ninja import Router, Schema
from pydantic import Field

from runs.domain import filters
from runs.domain import logs as domain

from .common import InputSchema, Paging

router = Router(tags=["Logs"])


class LogCreate(InputSchema):
    name: str = Field(max_length=255)
    level: int = Field(ge=0, le=100)
    message: str
    timestamp: datetime
    flow_run_id: UUID | None = None
    task_run_id: UUID | None = None
    worker_id: UUID | None = None


class LogOut(Schema):
    id: UUID
    created: datetime
    updated: datetime
    name: str
    level: int
    message: str
    timestamp: datetime
    flow_run_id: UUID | None
    task_run_id: UUID | None


class LogFilterBody(Paging):
    logs: filters.LogFilter | None = None
    sort: Literal["TIMESTAMP_ASC", "TIMESTAMP_DESC"] | None = None


@router.post("/logs/", response={201: None})
def create_logs(request, body: list[LogCreate]):
    domain.create_logs(logs=[log.model_dump() for log in body])
    return HttpResponse(b"null", status=201, content_type="application/json")


@router.post("/logs/filter", response=list[LogOut])
def read_logs(request, body: LogFilterBody | None = None):
    body = body or LogFilterBody()
    return domain.read_logs(log_filter=body.logs, sort=body.sort or "TIMESTAMP_ASC", window=body.window())

"""Task workers currently subscribed to background task runs."""

from __future__ import annotations

from datetime import datetime

from ninja import Router, Schema
from pydantic import Field

from runs.domain import task_workers as domain

from .base import json_response
from .common import InputSchema

router = Router(tags=["Task Workers"])


class TaskWorkerFilter(InputSchema):
    task_keys: list[str] = Field(default_factory=list)


class TaskWorkerFilterBody(InputSchema):
    task_worker_filter: TaskWorkerFilter | None = None


class TaskWorkerOut(Schema):
    identifier: str
    task_keys: list[str]
    timestamp: datetime


@router.post("/task_workers/filter", response=list[TaskWorkerOut])
def read_task_workers(request, body: TaskWorkerFilterBody | None = None):
    task_keys = body.task_worker_filter.task_keys if body and body.task_worker_filter else None
    return json_response(domain.read_task_workers(task_keys=task_keys))

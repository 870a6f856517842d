"""Work queues by id, and the pool-less queue endpoints (queues in the default agent pool)."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from ninja import Router, Schema
from pydantic import Field

from runs.domain import work_pools
from runs.domain import work_queues as domain

from .base import json_response, no_content
from .common import InputSchema, Paging, limit_or_default
from .flow_runs import FlowRunOut, flow_runs_json
from .work_pools import WorkQueueCreate, WorkQueueOut, WorkQueueUpdate, work_queues_json

router = Router(tags=["Work Queues"])


class WorkQueueFilterBody(Paging):
    work_queues: work_pools.WorkQueueFilter | None = None


class WorkQueueRunsBody(InputSchema):
    scheduled_before: datetime | None = None
    limit: int | None = Field(default=None, ge=0)


class HealthPolicyOut(Schema):
    maximum_late_runs: int | None
    maximum_seconds_since_last_polled: int | None


class WorkQueueStatusOut(Schema):
    healthy: bool
    late_runs_count: int
    last_polled: datetime | None
    health_check_policy: HealthPolicyOut


def queue_json(queue) -> dict:
    return work_queues_json([queue])[0]


@router.post("/work_queues/", response={201: WorkQueueOut})
def create_work_queue(request, body: WorkQueueCreate):
    return json_response(queue_json(domain.create_work_queue(**body.fields())), status=201)


@router.post("/work_queues/filter", response=list[WorkQueueOut])
def read_work_queues(request, body: WorkQueueFilterBody | None = None):
    body = body or WorkQueueFilterBody()
    return json_response(work_queues_json(work_pools.read_work_queues(work_queues=body.work_queues, window=body.window())))


@router.get("/work_queues/name/{name}", response=WorkQueueOut)
def read_work_queue_by_name(request, name: str):
    return json_response(queue_json(domain.read_work_queue_by_name(name=name)))


@router.get("/work_queues/{id}", response=WorkQueueOut)
def read_work_queue(request, id: UUID):
    return json_response(queue_json(domain.read_work_queue(work_queue_id=id)))


@router.patch("/work_queues/{id}", response={204: None})
def update_work_queue(request, id: UUID, body: WorkQueueUpdate):
    domain.update_work_queue(work_queue_id=id, **body.model_dump(exclude_unset=True))
    return no_content()


@router.delete("/work_queues/{id}", response={204: None})
def delete_work_queue(request, id: UUID):
    domain.delete_work_queue(work_queue_id=id)
    return no_content()


@router.get("/work_queues/{id}/status", response=WorkQueueStatusOut)
def read_work_queue_status(request, id: UUID):
    return json_response(domain.read_work_queue_status(work_queue_id=id))


class QueueConcurrencyStatusBody(InputSchema):
    page: int | None = Field(default=None, ge=1)
    limit: int | None = Field(default=None, ge=0, le=200)


@router.post("/work_queues/{id}/concurrency_status")
def read_work_queue_concurrency_status(request, id: UUID, body: QueueConcurrencyStatusBody | None = None):
    body = body or QueueConcurrencyStatusBody()
    return json_response(work_pools.read_work_queue_concurrency_status(
        work_queue_id=id, page=body.page or 1, limit=limit_or_default(body.limit)
    ))


@router.post("/work_queues/{id}/get_runs", response=list[FlowRunOut])
def read_work_queue_runs(request, id: UUID, body: WorkQueueRunsBody | None = None):
    body = body or WorkQueueRunsBody()
    # The UI previews a queue without counting as a poll.
    polled = request.headers.get("X-Prefect-Ui", "").lower() != "true"
    runs = domain.read_work_queue_runs(
        work_queue_id=id, scheduled_before=body.scheduled_before, limit=body.limit, mark_polled=polled
    )
    return json_response(flow_runs_json(runs))

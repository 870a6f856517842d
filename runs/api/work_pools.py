"""Work pools, their queues and workers, and the scheduled-run pickup workers poll.

Static paths (filter, count) are declared before `/work_pools/{name}` so a pool can never shadow them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from ninja import Router, Schema
from ninja.errors import HttpError
from pydantic import Field, field_validator

from runs.domain import work_pools as domain

from .base import json_response, no_content
from .common import InputSchema, Paging, limit_or_default
from .flow_runs import FlowRunOut, flow_runs_json

router = Router(tags=["Work Pools"])

NAME_PATTERN = r"^[^/%&><]+$"
STORAGE_CONFIGURATION_KEYS = ("bundle_upload_step", "bundle_execution_step", "default_result_storage_block_id")


# Wire shapes ---------------------------------------------------------------------------------------


class WorkPoolOut(Schema):
    id: UUID
    created: datetime
    updated: datetime
    name: str
    description: str | None
    type: str
    base_job_template: dict
    is_paused: bool
    concurrency_limit: int | None
    status: str | None
    default_queue_id: UUID | None
    storage_configuration: dict
    active_slots: int | None


class WorkQueueOut(Schema):
    id: UUID
    created: datetime
    updated: datetime
    name: str
    description: str | None
    is_paused: bool
    concurrency_limit: int | None
    priority: int
    work_pool_id: UUID | None
    filter: dict | None
    last_polled: datetime | None
    work_pool_name: str | None
    status: str | None
    active_slots: int | None


class WorkerOut(Schema):
    id: UUID
    created: datetime
    updated: datetime
    name: str
    work_pool_id: UUID
    last_heartbeat_time: datetime | None
    heartbeat_interval_seconds: int | None
    status: str


class WorkerFlowRunOut(Schema):
    work_pool_id: UUID
    work_queue_id: UUID
    flow_run: FlowRunOut


def storage_configuration_json(stored: dict | None) -> dict:
    return {**dict.fromkeys(STORAGE_CONFIGURATION_KEYS), **(stored or {})}


def work_pool_json(pool, active_slots: int | None = None) -> dict:
    return {
        "id": pool.id,
        "created": pool.created,
        "updated": pool.updated,
        "name": pool.name,
        "description": pool.description,
        "type": pool.type,
        "base_job_template": pool.base_job_template,
        "is_paused": pool.is_paused,
        "concurrency_limit": pool.concurrency_limit,
        "status": pool.status,
        "default_queue_id": pool.default_queue_id,
        "storage_configuration": storage_configuration_json(pool.storage_configuration),
        # Slots are only meaningful (and only counted) when the pool has a limit.
        "active_slots": active_slots if pool.concurrency_limit is not None else None,
    }


def work_pools_json(pools) -> list[dict]:
    slots = domain.active_slots_by_pool(pools)
    return [work_pool_json(pool, slots.get(pool.id, 0)) for pool in pools]


def work_queue_json(queue, active_slots: int | None = None) -> dict:
    return {
        "id": queue.id,
        "created": queue.created,
        "updated": queue.updated,
        "name": queue.name,
        "description": queue.description if queue.description is not None else "",
        "is_paused": queue.is_paused,
        "concurrency_limit": queue.concurrency_limit,
        "priority": queue.priority,
        "work_pool_id": queue.work_pool_id,
        "filter": queue.filter,
        "last_polled": queue.last_polled,
        "work_pool_name": queue.work_pool.name,
        "status": queue.status,
        "active_slots": active_slots if queue.concurrency_limit is not None else None,
    }


def work_queues_json(queues) -> list[dict]:
    slots = domain.active_slots_by_queue(queues)
    return [work_queue_json(queue, slots.get(queue.id, 0)) for queue in queues]


def worker_json(worker) -> dict:
    return {
        "id": worker.id,
        "created": worker.created,
        "updated": worker.updated,
        "name": worker.name,
        "work_pool_id": worker.work_pool_id,
        "last_heartbeat_time": worker.last_heartbeat_time,
        "heartbeat_interval_seconds": worker.heartbeat_interval_seconds,
        "status": worker.status,
    }


# Request bodies ------------------------------------------------------------------------------------


class StorageConfigurationIn(InputSchema):
    bundle_upload_step: dict[str, Any] | None = None
    bundle_execution_step: dict[str, Any] | None = None
    default_result_storage_block_id: UUID | None = None


class WorkPoolCreate(InputSchema):
    name: str = Field(min_length=1, max_length=255, pattern=NAME_PATTERN)
    description: str | None = None
    type: str | None = Field(default=None, max_length=255)
    base_job_template: dict[str, Any] | None = None
    is_paused: bool | None = None
    concurrency_limit: int | None = Field(default=None, ge=0)
    storage_configuration: StorageConfigurationIn | None = None


class WorkPoolUpdate(InputSchema):
    description: str | None = None
    is_paused: bool | None = None
    base_job_template: dict[str, Any] | None = None
    concurrency_limit: int | None = Field(default=None, ge=0)
    storage_configuration: StorageConfigurationIn | None = None


class WorkPoolFilterBody(Paging):
    work_pools: domain.WorkPoolFilter | None = None


class WorkPoolCountBody(InputSchema):
    work_pools: domain.WorkPoolFilter | None = None


class ScheduledRunsBody(InputSchema):
    work_queue_names: list[str] | None = None
    scheduled_before: datetime | None = None
    scheduled_after: datetime | None = None
    limit: int | None = Field(default=None, ge=0)


class WorkQueueCreate(InputSchema):
    name: str = Field(min_length=1, max_length=255, pattern=NAME_PATTERN)
    description: str | None = None
    is_paused: bool | None = None
    concurrency_limit: int | None = Field(default=None, ge=0)
    priority: int | None = Field(default=None, gt=0)
    filter: dict[str, Any] | None = None

    def fields(self) -> dict:
        return {
            "name": self.name,
            "description": self.description,
            "is_paused": bool(self.is_paused),
            "concurrency_limit": self.concurrency_limit,
            "priority": self.priority,
            "filter": self.filter,
        }


class WorkQueueUpdate(InputSchema):
    name: str | None = Field(default=None, min_length=1, max_length=255, pattern=NAME_PATTERN)
    description: str | None = None
    is_paused: bool | None = None
    concurrency_limit: int | None = Field(default=None, ge=0)
    priority: int | None = Field(default=None, gt=0)
    last_polled: datetime | None = None
    filter: dict[str, Any] | None = None


class WorkQueueFilterBody(Paging):
    work_queues: domain.WorkQueueFilter | None = None


class WorkerFilterBody(Paging):
    workers: domain.WorkerFilter | None = None


class WorkerHeartbeatBody(InputSchema):
    name: str = Field(min_length=1, max_length=255)
    heartbeat_interval_seconds: int | None = None
    return_id: bool | None = None

    @field_validator("heartbeat_interval_seconds", mode="before")
    @classmethod
    def whole_seconds(cls, value):
        # The client types the interval as a float; a whole number of seconds is what we keep.
        return int(value) if isinstance(value, float) else value


def forbid_reserved(name: str, action: str) -> None:
    if domain.is_reserved_pool_name(name):
        raise HttpError(403, f"Work pools starting with 'Prefect' are reserved for internal use and can not be {action}.")


# Pools ---------------------------------------------------------------------------------------------


@router.post("/work_pools/", response={201: WorkPoolOut})
def create_work_pool(request, body: WorkPoolCreate):
    forbid_reserved(body.name, "created")
    pool = domain.create_work_pool(
        name=body.name,
        type=body.type or "prefect-agent",
        description=body.description,
        base_job_template=body.base_job_template,
        is_paused=bool(body.is_paused),
        concurrency_limit=body.concurrency_limit,
        storage_configuration=body.storage_configuration.model_dump(mode="json", exclude_none=True)
        if body.storage_configuration else None,
    )
    return json_response(work_pool_json(pool, 0), status=201)


@router.post("/work_pools/filter", response=list[WorkPoolOut])
def read_work_pools(request, body: WorkPoolFilterBody | None = None):
    body = body or WorkPoolFilterBody()
    return json_response(work_pools_json(domain.read_work_pools(work_pools=body.work_pools, window=body.window())))


@router.post("/work_pools/count", response=int)
def count_work_pools(request, body: WorkPoolCountBody | None = None):
    return domain.count_work_pools(work_pools=(body or WorkPoolCountBody()).work_pools)


@router.get("/work_pools/{name}", response=WorkPoolOut)
def read_work_pool(request, name: str):
    return json_response(work_pools_json([domain.read_work_pool(name=name)])[0])


@router.patch("/work_pools/{name}", response={204: None})
def update_work_pool(request, name: str, body: WorkPoolUpdate):
    changes = body.model_dump(exclude_unset=True)
    if domain.is_reserved_pool_name(name) and set(changes) - {"is_paused", "concurrency_limit"}:
        raise HttpError(403, "Work pools starting with 'Prefect' are reserved for internal use and can only be "
                             "updated to set concurrency limits or pause.")
    if body.storage_configuration is not None:
        changes["storage_configuration"] = body.storage_configuration.model_dump(mode="json", exclude_none=True)
    domain.update_work_pool(name=name, **changes)
    return no_content()


@router.delete("/work_pools/{name}", response={204: None})
def delete_work_pool(request, name: str):
    forbid_reserved(name, "deleted")
    domain.delete_work_pool(name=name)
    return no_content()


@router.post("/work_pools/{name}/get_scheduled_flow_runs", response=list[WorkerFlowRunOut])
def get_scheduled_flow_runs(request, name: str, body: ScheduledRunsBody | None = None):
    body = body or ScheduledRunsBody()
    picked = domain.get_scheduled_flow_runs(
        work_pool_name=name,
        work_queue_names=body.work_queue_names,
        scheduled_before=body.scheduled_before,
        scheduled_after=body.scheduled_after,
        limit=body.limit,
    )
    runs = flow_runs_json([run for _, _, run in picked])
    return json_response([
        {"work_pool_id": pool.id, "work_queue_id": queue.id, "flow_run": run}
        for (pool, queue, _), run in zip(picked, runs)
    ])


class PoolConcurrencyStatusBody(InputSchema):
    page: int | None = Field(default=None, ge=1)
    limit: int | None = Field(default=None, ge=0, le=200)
    flow_run_limit: int | None = Field(default=None, ge=0, le=200)


@router.post("/work_pools/{name}/concurrency_status")
def read_work_pool_concurrency_status(request, name: str, body: PoolConcurrencyStatusBody | None = None):
    body = body or PoolConcurrencyStatusBody()
    return json_response(domain.read_work_pool_concurrency_status(
        work_pool_name=name, page=body.page or 1, limit=limit_or_default(body.limit),
        flow_run_limit=10 if body.flow_run_limit is None else body.flow_run_limit,
    ))


# Queues of a pool ----------------------------------------------------------------------------------


@router.post("/work_pools/{work_pool_name}/queues", response={201: WorkQueueOut})
def create_work_queue(request, work_pool_name: str, body: WorkQueueCreate):
    queue = domain.create_work_queue(work_pool_name=work_pool_name, **body.fields())
    return json_response(work_queue_json(domain.read_work_queue_by_id(work_queue_id=queue.id), 0), status=201)


@router.post("/work_pools/{work_pool_name}/queues/filter", response=list[WorkQueueOut])
def read_work_queues(request, work_pool_name: str, body: WorkQueueFilterBody | None = None):
    body = body or WorkQueueFilterBody()
    queues = domain.read_work_queues(work_pool_name=work_pool_name, work_queues=body.work_queues, window=body.window())
    return json_response(work_queues_json(queues))


@router.get("/work_pools/{work_pool_name}/queues/{name}", response=WorkQueueOut)
def read_work_queue(request, work_pool_name: str, name: str):
    return json_response(work_queues_json([domain.read_work_queue(work_pool_name=work_pool_name, name=name)])[0])


@router.patch("/work_pools/{work_pool_name}/queues/{name}", response={204: None})
def update_work_queue(request, work_pool_name: str, name: str, body: WorkQueueUpdate):
    queue = domain.read_work_queue(work_pool_name=work_pool_name, name=name)
    domain.update_work_queue(queue=queue, **body.model_dump(exclude_unset=True))
    return no_content()


@router.delete("/work_pools/{work_pool_name}/queues/{name}", response={204: None})
def delete_work_queue(request, work_pool_name: str, name: str):
    domain.delete_work_queue(queue=domain.read_work_queue(work_pool_name=work_pool_name, name=name))
    return no_content()


# Workers -------------------------------------------------------------------------------------------


@router.post("/work_pools/{work_pool_name}/workers/heartbeat", response={204: None})
def worker_heartbeat(request, work_pool_name: str, body: WorkerHeartbeatBody):
    _, worker = domain.record_worker_heartbeat(
        work_pool_name=work_pool_name, worker_name=body.name, heartbeat_interval_seconds=body.heartbeat_interval_seconds
    )
    if body.return_id:
        return json_response(str(worker.id), status=200)
    return no_content()


@router.post("/work_pools/{work_pool_name}/workers/filter", response=list[WorkerOut])
def read_workers(request, work_pool_name: str, body: WorkerFilterBody | None = None):
    body = body or WorkerFilterBody()
    workers = domain.read_workers(work_pool_name=work_pool_name, workers=body.workers, window=body.window())
    return json_response([worker_json(worker) for worker in workers])


@router.delete("/work_pools/{work_pool_name}/workers/{name}", response={204: None})
def delete_worker(request, work_pool_name: str, name: str):
    domain.delete_worker(work_pool_name=work_pool_name, worker_name=name)
    return no_content()


# Worker types --------------------------------------------------------------------------------------

# What `prefect work-pool create` lists as known worker types. The client prefers its own registry
# for types it ships (such as process) and falls back to this for the rest.
PROCESS_WORKER_TEMPLATE = {
    "job_configuration": {
        "command": "{{ command }}",
        "env": "{{ env }}",
        "labels": "{{ labels }}",
        "name": "{{ name }}",
        "stream_output": "{{ stream_output }}",
        "working_dir": "{{ working_dir }}",
    },
    "variables": {
        "type": "object",
        "properties": {
            "name": {"title": "Name", "type": "string", "description": "A name for runs started by this pool."},
            "env": {"title": "Environment Variables", "type": "object", "additionalProperties": {"type": "string"},
                    "description": "Extra environment variables for the run's process."},
            "labels": {"title": "Labels", "type": "object", "additionalProperties": {"type": "string"},
                       "description": "Labels attached to the run's process."},
            "command": {"title": "Command", "type": "string",
                        "description": "The command that starts the run; the worker's default when empty."},
            "stream_output": {"title": "Stream Output", "type": "boolean", "default": True,
                              "description": "Whether the run's output appears in the worker's output."},
            "working_dir": {"title": "Working Directory", "type": "string", "format": "path",
                            "description": "Where the run's process starts; a temporary directory when empty."},
        },
    },
}

WORKER_METADATA = {
    "prefect": {
        "process": {
            "type": "process",
            "display_name": "Process",
            "description": "Runs each flow run as a subprocess of the worker on the worker's machine.",
            "documentation_url": "",
            "install_command": "pip install prefect",
            "is_beta": False,
            "logo_url": "",
            "default_base_job_configuration": PROCESS_WORKER_TEMPLATE,
        }
    }
}


@router.get("/collections/views/{view}")
def read_collection_view(request, view: str):
    if view != "aggregate-worker-metadata":
        raise HttpError(404, f"View {view} not found in registry")
    return json_response(WORKER_METADATA)

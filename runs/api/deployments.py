from datetime import datetime
from typing import Any, Literal
from uuid import UUID

from ninja import Router, Schema
from ninja.errors import HttpError
from pydantic import Field

from runs.domain import deployments as domain

from .base import no_content
from .common import InputSchema, Paging, RunFilterBody, StateIn, client_version, json_response, limit_or_default
from .flow_runs import FlowRunOut, flow_run_json, flow_runs_json
from .work_pools import WorkQueueOut, work_queues_json

router = Router(tags=["Deployments"])

DeploymentSort = Literal[tuple(domain.DEPLOYMENT_SORTS)]


class ConcurrencyOptions(InputSchema):
    collision_strategy: Literal["ENQUEUE", "CANCEL_NEW"] = "ENQUEUE"
    grace_period_seconds: int | None = Field(default=None, ge=60, le=86400)


class ScheduleIn(InputSchema):
    """One schedule of a deployment as a request carries it; `schedule` is checked by the domain."""

    schedule: dict[str, Any] | None = None
    active: bool | None = None
    max_scheduled_runs: int | None = None
    parameters: dict[str, Any] | None = None
    slug: str | None = Field(default=None, max_length=255)
    replaces: str | None = None


class DeploymentFields(InputSchema):
    version: str | None = Field(default=None, max_length=255)
    version_info: dict[str, Any] | None = None
    description: str | None = None
    paused: bool | None = None
    schedules: list[ScheduleIn] | None = None
    concurrency_limit: int | None = None
    concurrency_options: ConcurrencyOptions | None = None
    parameters: dict[str, Any] | None = None
    parameter_openapi_schema: dict[str, Any] | None = None
    enforce_parameter_schema: bool | None = None
    tags: list[str] | None = None
    labels: dict[str, Any] | None = None
    work_queue_name: str | None = None
    work_pool_name: str | None = None
    path: str | None = None
    entrypoint: str | None = None
    pull_steps: list[dict[str, Any]] | None = None
    job_variables: dict[str, Any] | None = None
    storage_document_id: UUID | None = None
    infrastructure_document_id: UUID | None = None

    def domain_fields(self, *, exclude_unset: bool) -> dict:
        fields = self.model_dump(exclude_unset=exclude_unset, exclude={"schedules"})
        if self.schedules is not None:
            fields["schedules"] = [schedule.model_dump(exclude_none=True) for schedule in self.schedules]
        return fields


class DeploymentCreate(DeploymentFields):
    name: str = Field(min_length=1, max_length=255)
    flow_id: UUID
    created_by: dict[str, Any] | None = None
    updated_by: dict[str, Any] | None = None


class DeploymentUpdate(DeploymentFields):
    pass


class ScheduleOut(Schema):
    id: UUID
    created: datetime
    updated: datetime
    deployment_id: UUID
    schedule: dict
    active: bool
    max_scheduled_runs: int | None
    parameters: dict
    slug: str | None


class DeploymentOut(Schema):
    id: UUID
    created: datetime
    updated: datetime
    name: str
    version: str | None
    version_info: dict | None
    description: str | None
    flow_id: UUID
    paused: bool
    schedules: list[ScheduleOut]
    concurrency_limit: int | None
    global_concurrency_limit: dict | None
    concurrency_options: dict | None
    job_variables: dict
    parameters: dict
    tags: list[str]
    labels: dict
    work_queue_name: str | None
    work_queue_id: UUID | None
    last_polled: datetime | None
    parameter_openapi_schema: dict | None
    path: str | None
    pull_steps: list[dict] | None
    entrypoint: str | None
    storage_document_id: UUID | None
    infrastructure_document_id: UUID | None
    created_by: dict | None
    updated_by: dict | None
    work_pool_name: str | None
    status: str | None
    enforce_parameter_schema: bool


def schedule_json(schedule) -> dict:
    return {
        "id": schedule.id,
        "created": schedule.created,
        "updated": schedule.updated,
        "deployment_id": schedule.deployment_id,
        "schedule": schedule.schedule,
        "active": schedule.active,
        "max_scheduled_runs": schedule.max_scheduled_runs,
        "parameters": schedule.parameters,
        "slug": schedule.slug,
    }


def limit_json(limit) -> dict | None:
    if limit is None:
        return None
    return {
        "id": limit.id, "created": limit.created, "updated": limit.updated, "active": limit.active,
        "name": limit.name, "limit": limit.limit, "active_slots": limit.active_slots,
        "slot_decay_per_second": limit.slot_decay_per_second,
    }


def deployment_json(deployment) -> dict:
    queue = deployment.work_queue
    return {
        "id": deployment.id,
        "created": deployment.created,
        "updated": deployment.updated,
        "name": deployment.name,
        "version": deployment.version,
        "version_info": deployment.version_info,
        "description": deployment.description,
        "flow_id": deployment.flow_id,
        "paused": deployment.paused,
        "schedules": [schedule_json(schedule) for schedule in deployment.schedules.all()],
        "concurrency_limit": deployment.concurrency_limit,
        "global_concurrency_limit": limit_json(getattr(deployment, "global_limit", None)),
        "concurrency_options": deployment.concurrency_options,
        "job_variables": deployment.job_variables,
        "parameters": deployment.parameters,
        "tags": deployment.tags,
        "labels": deployment.labels,
        "work_queue_name": deployment.work_queue_name,
        "work_queue_id": deployment.work_queue_id,
        "last_polled": deployment.last_polled,
        "parameter_openapi_schema": deployment.parameter_openapi_schema,
        "path": deployment.path,
        "pull_steps": deployment.pull_steps,
        "entrypoint": deployment.entrypoint,
        "storage_document_id": deployment.storage_document_id,
        "infrastructure_document_id": deployment.infrastructure_document_id,
        "created_by": deployment.created_by,
        "updated_by": deployment.updated_by,
        "work_pool_name": queue.work_pool.name if queue else None,
        "status": "NOT_READY" if deployment.paused else deployment.status,
        "enforce_parameter_schema": deployment.enforce_parameter_schema,
    }


class DeploymentFilterBody(RunFilterBody, Paging):
    sort: DeploymentSort | None = None


class DeploymentPaginateBody(RunFilterBody):
    sort: DeploymentSort | None = None
    page: int | None = Field(default=None, ge=1)
    limit: int | None = Field(default=None, ge=0, le=200)


class DeploymentPage(Schema):
    results: list[DeploymentOut]
    count: int
    limit: int
    pages: int
    page: int


class DeploymentFlowRunCreate(InputSchema):
    state: StateIn | None = None
    name: str | None = Field(default=None, max_length=255)
    parameters: dict[str, Any] | None = None
    enforce_parameter_schema: bool | None = None
    context: dict[str, Any] | None = None
    infrastructure_document_id: UUID | None = None
    empirical_policy: dict[str, Any] | None = None
    tags: list[str] | None = None
    idempotency_key: str | None = Field(default=None, max_length=255)
    labels: dict[str, Any] | None = None
    parent_task_run_id: UUID | None = None
    work_queue_name: str | None = None
    job_variables: dict[str, Any] | None = None


class ScheduledRunsBody(InputSchema):
    deployment_ids: list[UUID]
    # The runner sends str(datetime) ("2026-11-21 05:00:18.221342+00:00"), which pydantic accepts.
    scheduled_before: datetime | None = None
    limit: int | None = Field(default=None, ge=0)


class ScheduleUpdate(InputSchema):
    schedule: dict[str, Any] | None = None
    active: bool | None = None
    max_scheduled_runs: int | None = None
    parameters: dict[str, Any] | None = None
    slug: str | None = Field(default=None, max_length=255)


@router.post("/deployments/", response={200: DeploymentOut, 201: DeploymentOut})
def create_deployment(request, body: DeploymentCreate):
    fields = body.domain_fields(exclude_unset=False)
    if fields.get("concurrency_options") is not None:
        fields["concurrency_options"] = body.concurrency_options.model_dump()
    deployment, created = domain.create_deployment(**fields)
    return json_response(deployment_json(deployment), status=201 if created else 200)


@router.post("/deployments/filter", response=list[DeploymentOut])
def read_deployments(request, body: DeploymentFilterBody | None = None):
    body = body or DeploymentFilterBody()
    deployments = domain.read_deployments(sort=body.sort or "NAME_ASC", window=body.window(), **body.filter_kwargs())
    return json_response([deployment_json(deployment) for deployment in deployments])


@router.post("/deployments/count", response=int)
def count_deployments(request, body: RunFilterBody | None = None):
    return domain.count_deployments(**(body or RunFilterBody()).filter_kwargs())


@router.post("/deployments/paginate", response=DeploymentPage)
def paginate_deployments(request, body: DeploymentPaginateBody | None = None):
    body = body or DeploymentPaginateBody()
    limit, page = limit_or_default(body.limit), body.page or 1
    count = domain.count_deployments(**body.filter_kwargs())
    results = domain.read_deployments(
        sort=body.sort or "NAME_ASC", window=slice((page - 1) * limit, page * limit), **body.filter_kwargs()
    )
    return json_response({
        "results": [deployment_json(deployment) for deployment in results],
        "count": count, "limit": limit, "pages": -(-count // limit) if limit else 0, "page": page,
    })


@router.post("/deployments/bulk_delete")
def bulk_delete_deployments(request, body: RunFilterBody | None = None):
    return {"deleted": domain.delete_deployments(**(body or RunFilterBody()).filter_kwargs())}


@router.post("/deployments/get_scheduled_flow_runs", response=list[FlowRunOut])
def get_scheduled_flow_runs(request, body: ScheduledRunsBody):
    runs = domain.read_scheduled_flow_runs(
        deployment_ids=body.deployment_ids, scheduled_before=body.scheduled_before, limit=limit_or_default(body.limit)
    )
    return json_response(flow_runs_json(runs))


@router.get("/deployments/name/{flow_name}/{deployment_name}", response=DeploymentOut)
def read_deployment_by_name(request, flow_name: str, deployment_name: str):
    deployment = domain.read_deployment_by_name(flow_name=flow_name, deployment_name=deployment_name)
    return json_response(deployment_json(deployment))


@router.get("/deployments/{id}", response=DeploymentOut)
def read_deployment(request, id: UUID):
    return json_response(deployment_json(domain.read_deployment(deployment_id=id)))


@router.patch("/deployments/{id}")
def update_deployment(request, id: UUID, body: DeploymentUpdate):
    changes = body.domain_fields(exclude_unset=True)
    if changes.get("concurrency_options") is not None:
        changes["concurrency_options"] = body.concurrency_options.model_dump()
    domain.update_deployment(deployment_id=id, **changes)
    return no_content()


@router.delete("/deployments/{id}")
def delete_deployment(request, id: UUID):
    domain.delete_deployment(deployment_id=id)
    return no_content()


@router.post("/deployments/{id}/pause_deployment")
def pause_deployment(request, id: UUID):
    domain.set_deployment_paused(deployment_id=id, paused=True)
    return no_content()


@router.post("/deployments/{id}/resume_deployment")
def resume_deployment(request, id: UUID):
    domain.set_deployment_paused(deployment_id=id, paused=False)
    return no_content()


@router.post("/deployments/{id}/create_flow_run", response={200: FlowRunOut, 201: FlowRunOut})
def create_flow_run_from_deployment(request, id: UUID, body: DeploymentFlowRunCreate):
    fields = body.model_dump(exclude={"state"}, exclude_none=True)
    run, created = domain.create_flow_run_from_deployment(
        deployment_id=id,
        state=body.state.as_proposal() if body.state else None,
        client_version=client_version(request),
        **fields,
    )
    return json_response(flow_run_json(run), status=201 if created else 200)


class FlowRunCreateResult(Schema):
    flow_run_id: UUID | None
    status: Literal["CREATED", "FAILED"]
    error: str | None


class FlowRunBulkCreateOut(Schema):
    results: list[FlowRunCreateResult]


@router.post("/deployments/{id}/create_flow_run/bulk", response=FlowRunBulkCreateOut)
def create_flow_runs_from_deployment(request, id: UUID, body: list[DeploymentFlowRunCreate]):
    """Up to 100 runs at once; each one that cannot be created is reported, the others still are."""
    if len(body) > domain.BULK_CREATE_LIMIT:
        raise HttpError(400, f"Cannot create more than {domain.BULK_CREATE_LIMIT} flow runs at once.")
    runs = [
        {**run.model_dump(exclude={"state"}, exclude_none=True), "state": run.state.as_proposal() if run.state else None}
        for run in body
    ]
    results = domain.create_flow_runs_from_deployment(deployment_id=id, runs=runs, client_version=client_version(request))
    return json_response({"results": results})


@router.get("/deployments/{id}/work_queue_check", response=list[WorkQueueOut])
def work_queue_check_for_deployment(request, id: UUID):
    """Deprecated in the reference server too: the queues whose filter would pick up the deployment."""
    return json_response(work_queues_json(domain.read_work_queues_for_deployment(deployment_id=id)))


@router.get("/deployments/{id}/schedules", response=list[ScheduleOut])
def read_deployment_schedules(request, id: UUID):
    return json_response([schedule_json(schedule) for schedule in domain.read_deployment_schedules(deployment_id=id)])


@router.post("/deployments/{id}/schedules", response={201: list[ScheduleOut]})
def create_deployment_schedules(request, id: UUID, body: list[ScheduleIn]):
    schedules = domain.create_deployment_schedules(
        deployment_id=id, schedules=[schedule.model_dump(exclude_none=True) for schedule in body]
    )
    return json_response([schedule_json(schedule) for schedule in schedules], status=201)


@router.patch("/deployments/{id}/schedules/{schedule_id}")
def update_deployment_schedule(request, id: UUID, schedule_id: UUID, body: ScheduleUpdate):
    domain.update_deployment_schedule(deployment_id=id, schedule_id=schedule_id, **body.model_dump(exclude_none=True))
    return no_content()


@router.delete("/deployments/{id}/schedules/{schedule_id}")
def delete_deployment_schedule(request, id: UUID, schedule_id: UUID):
    domain.delete_deployment_schedule(deployment_id=id, schedule_id=schedule_id)
    return no_content()


class ScheduleNowBody(InputSchema):
    start_time: datetime | None = None
    end_time: datetime | None = None
    min_time: float | None = None
    min_runs: int | None = None
    max_runs: int | None = None


@router.post("/deployments/{id}/schedule")
def schedule_deployment(request, id: UUID, body: ScheduleNowBody | None = None):
    """Create the deployment's upcoming auto-scheduled runs now instead of waiting for the scheduler."""
    domain.read_deployment(deployment_id=id)
    domain.schedule_runs(deployment_ids=[id], now=(body.start_time if body and body.start_time else None))
    return no_content()


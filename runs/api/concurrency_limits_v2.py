"""Global concurrency limits (v2): CRUD, slots with and without leases, lease renewal.

The client's `concurrency()` and every tagged task go through `increment-with-lease`,
`leases/{id}/renew` and `decrement-with-lease`; `rate_limit()` uses plain `increment`.
"""

from datetime import datetime
from typing import Literal
from uuid import UUID

from ninja import Router, Schema
from pydantic import Field, field_validator

from runs.domain import concurrency as domain

from .base import api, detail, json_response, no_content
from .common import InputSchema, Paging

router = Router(tags=["Concurrency Limits V2"])

LIMIT_NAME_PATTERN = r"^[^/%&><\x00]+$"
MAX_INT = 2**31 - 1  # the database column is a 32-bit integer


@api.exception_handler(domain.SlotsLocked)
def slots_locked(request, exc):
    # The client sleeps for Retry-After seconds and asks again; without it, it gives up.
    response = detail(request, str(exc), 423)
    if exc.retry_after is not None:
        response["Retry-After"] = str(exc.retry_after)
    return response


@api.exception_handler(domain.LeaseGone)
def lease_gone(request, exc):
    return detail(request, str(exc), 410)


class LimitCreate(InputSchema):
    name: str = Field(pattern=LIMIT_NAME_PATTERN, max_length=255)
    limit: int = Field(ge=0, le=MAX_INT)
    active: bool = True
    active_slots: int = Field(default=0, ge=0, le=MAX_INT)
    denied_slots: int = Field(default=0, ge=0, le=MAX_INT)
    slot_decay_per_second: float = Field(default=0.0, ge=0)

    @field_validator("active", "active_slots", "denied_slots", "slot_decay_per_second", mode="before")
    @classmethod
    def null_is_default(cls, value, info):
        return cls.model_fields[info.field_name].default if value is None else value


class LimitUpdate(InputSchema):
    name: str | None = Field(default=None, pattern=LIMIT_NAME_PATTERN, max_length=255)
    limit: int | None = Field(default=None, ge=0, le=MAX_INT)
    active: bool | None = None
    active_slots: int | None = Field(default=None, ge=0, le=MAX_INT)
    denied_slots: int | None = Field(default=None, ge=0, le=MAX_INT)
    slot_decay_per_second: float | None = Field(default=None, ge=0)


class LimitOut(Schema):
    id: UUID
    created: datetime
    updated: datetime
    active: bool
    name: str
    limit: int
    active_slots: int
    denied_slots: int
    slot_decay_per_second: float
    avg_slot_occupancy_seconds: float


class GlobalLimitOut(Schema):
    id: UUID
    created: datetime
    updated: datetime
    active: bool
    name: str
    limit: int
    active_slots: int
    slot_decay_per_second: float


class MinimalLimitOut(Schema):
    id: UUID
    name: str
    limit: int


class LeaseOut(Schema):
    lease_id: UUID
    limits: list[MinimalLimitOut]


class LeaseHolder(InputSchema):
    type: Literal["flow_run", "task_run", "deployment"]
    id: UUID


class SlotsBody(InputSchema):
    slots: int = Field(gt=0, le=MAX_INT)
    names: list[str] = Field(min_length=1)
    mode: Literal["concurrency", "rate_limit"] = "concurrency"

    @field_validator("mode", mode="before")
    @classmethod
    def null_is_concurrency(cls, value):
        return "concurrency" if value is None else value


class LeaseDuration(InputSchema):
    lease_duration: float = Field(default=300, ge=60, le=86400)

    @field_validator("lease_duration", mode="before")
    @classmethod
    def null_is_default(cls, value):
        return 300 if value is None else value


class IncrementWithLeaseBody(SlotsBody, LeaseDuration):
    holder: LeaseHolder | None = None


class DecrementBody(InputSchema):
    slots: int = Field(gt=0, le=MAX_INT)
    names: list[str] = Field(min_length=1)
    occupancy_seconds: float | None = Field(default=None, gt=0)


class DecrementWithLeaseBody(InputSchema):
    lease_id: UUID


def global_limit_json(limit) -> dict:
    """A limit as the client's global-concurrency-limit responses show it."""
    return {
        "id": limit.id,
        "created": limit.created,
        "updated": limit.updated,
        "active": limit.active,
        "name": limit.name,
        "limit": limit.limit,
        "active_slots": limit.active_slots,
        "slot_decay_per_second": limit.slot_decay_per_second,
    }


def limit_json(limit) -> dict:
    """The full v2 shape: the global one plus the denial and occupancy statistics."""
    return {
        **global_limit_json(limit),
        "denied_slots": limit.denied_slots,
        "avg_slot_occupancy_seconds": limit.avg_slot_occupancy_seconds,
    }


def minimal_json(limit, name: str | None = None) -> dict:
    return {"id": limit.id, "name": name or limit.name, "limit": limit.limit}


@router.post("/v2/concurrency_limits/", response={201: LimitOut})
def create_limit(request, body: LimitCreate):
    return json_response(limit_json(domain.create_concurrency_limit(**body.model_dump())), status=201)


@router.post("/v2/concurrency_limits/filter", response=list[GlobalLimitOut])
def read_limits(request, body: Paging | None = None):
    limits = domain.read_concurrency_limits(window=(body or Paging()).window())
    return json_response([global_limit_json(limit) for limit in limits])


@router.post("/v2/concurrency_limits/increment", response=list[MinimalLimitOut])
def increment_slots(request, body: SlotsBody):
    acquisition = domain.acquire_slots(names=body.names, slots=body.slots, mode=body.mode)
    return json_response([minimal_json(limit) for limit in acquisition.limits])


@router.post("/v2/concurrency_limits/increment-with-lease", response=LeaseOut)
def increment_slots_with_lease(request, body: IncrementWithLeaseBody):
    holder = body.holder
    acquisition = domain.acquire_slots(
        names=body.names,
        slots=body.slots,
        mode=body.mode,
        lease_duration=body.lease_duration,
        holder_type=holder.type if holder else None,
        holder_id=holder.id if holder else None,
    )
    return json_response(
        {"lease_id": acquisition.lease_id, "limits": [minimal_json(limit) for limit in acquisition.limits]}
    )


@router.post("/v2/concurrency_limits/decrement", response=list[MinimalLimitOut])
def decrement_slots(request, body: DecrementBody):
    limits = domain.release_slots(names=body.names, slots=body.slots, occupancy_seconds=body.occupancy_seconds)
    return json_response([minimal_json(limit) for limit in limits])


@router.post("/v2/concurrency_limits/decrement-with-lease")
def decrement_slots_with_lease(request, body: DecrementWithLeaseBody):
    domain.release_lease(lease_id=body.lease_id)
    return no_content()


@router.post("/v2/concurrency_limits/leases/{lease_id}/renew")
def renew_lease(request, lease_id: UUID, body: LeaseDuration | None = None):
    domain.renew_lease(lease_id=lease_id, lease_duration=(body or LeaseDuration()).lease_duration)
    return no_content()


@router.get("/v2/concurrency_limits/{id_or_name}", response=GlobalLimitOut)
def read_limit(request, id_or_name: str):
    return json_response(global_limit_json(domain.read_concurrency_limit(id_or_name=id_or_name)))


@router.patch("/v2/concurrency_limits/{id_or_name}")
def update_limit(request, id_or_name: str, body: LimitUpdate):
    domain.update_concurrency_limit(id_or_name=id_or_name, **body.model_dump(exclude_unset=True))
    return no_content()


@router.delete("/v2/concurrency_limits/{id_or_name}")
def delete_limit(request, id_or_name: str):
    domain.delete_concurrency_limit(id_or_name=id_or_name)
    return no_content()

"""Tag concurrency limits (v1): a facade over the v2 limit named `tag:<tag>`, which has the same id.

`active_slots` lists the task runs holding a slot, read from the leases on the limit.
"""

from datetime import datetime
from uuid import UUID

from ninja import Router, Schema
from pydantic import Field

from runs.domain import concurrency as domain

from .base import json_response
from .common import InputSchema, Paging
from .concurrency_limits_v2 import MAX_INT, MinimalLimitOut, minimal_json

router = Router(tags=["Concurrency Limits"])


class TagLimitCreate(InputSchema):
    tag: str = Field(min_length=1, max_length=250, pattern=r"^[^\x00]+$")
    concurrency_limit: int = Field(ge=0, le=MAX_INT)


class TagLimitOut(Schema):
    id: UUID
    created: datetime
    updated: datetime
    tag: str
    concurrency_limit: int
    active_slots: list[UUID]


class ResetBody(InputSchema):
    slot_override: list[UUID] | None = None


class TagSlotsBody(InputSchema):
    names: list[str]
    task_run_id: UUID
    occupancy_seconds: float | None = None


def tag_limit_json(limit, holders: list) -> dict:
    return {
        "id": limit.id,
        "created": limit.created,
        "updated": limit.updated,
        "tag": limit.tag,
        "concurrency_limit": limit.limit,
        "active_slots": holders,
    }


def tag_limits_json(limits) -> list[dict]:
    holders = domain.tag_slot_holders([limit.id for limit in limits])
    return [tag_limit_json(limit, holders[limit.id]) for limit in limits]


@router.post("/concurrency_limits/", response={200: TagLimitOut, 201: TagLimitOut})
def create_tag_limit(request, body: TagLimitCreate):
    limit, created = domain.create_tag_limit(tag=body.tag, concurrency_limit=body.concurrency_limit)
    return json_response(tag_limits_json([limit])[0], status=201 if created else 200)


@router.post("/concurrency_limits/filter", response=list[TagLimitOut])
def read_tag_limits(request, body: Paging | None = None):
    limits = domain.read_concurrency_limits(window=(body or Paging()).window(), tags_only=True)
    return json_response(tag_limits_json(limits))


@router.post("/concurrency_limits/increment", response=list[MinimalLimitOut])
def increment_tag_limits(request, body: TagSlotsBody):
    limits = domain.increment_tag_limits(tags=body.names, task_run_id=body.task_run_id)
    return json_response([minimal_json(limit, name=limit.tag) for limit in limits])


@router.post("/concurrency_limits/decrement", response=list[MinimalLimitOut])
def decrement_tag_limits(request, body: TagSlotsBody):
    limits = domain.decrement_tag_limits(tags=body.names, task_run_id=body.task_run_id)
    return json_response([minimal_json(limit) for limit in limits])


@router.get("/concurrency_limits/tag/{tag}", response=TagLimitOut)
def read_tag_limit_by_tag(request, tag: str):
    return json_response(tag_limits_json([domain.read_tag_limit(tag=tag)])[0])


@router.delete("/concurrency_limits/tag/{tag}")
def delete_tag_limit_by_tag(request, tag: str):
    domain.delete_tag_limit(tag=tag)
    return json_response(None)


@router.post("/concurrency_limits/tag/{tag}/reset")
def reset_tag_limit(request, tag: str, body: ResetBody | None = None):
    domain.reset_tag_limit(tag=tag, slot_override=(body or ResetBody()).slot_override)
    return json_response(None)


@router.get("/concurrency_limits/{id}", response=TagLimitOut)
def read_tag_limit(request, id: UUID):
    return json_response(tag_limits_json([domain.read_tag_limit(limit_id=id)])[0])


@router.delete("/concurrency_limits/{id}")
def delete_tag_limit(request, id: UUID):
    domain.delete_tag_limit(limit_id=id)
    return json_response(None)

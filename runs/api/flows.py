from datetime import datetime
from typing import Literal
from uuid import UUID

from ninja import Router, Schema, Status
from pydantic import Field

from runs.domain import flows as domain

from .base import no_content
from .common import InputSchema, PageRequest, Paging, RunFilterBody

router = Router(tags=["Flows"])

FlowSort = Literal["CREATED_DESC", "UPDATED_DESC", "NAME_ASC", "NAME_DESC"]


class FlowCreate(InputSchema):
    name: str = Field(min_length=1, max_length=255)
    tags: list[str] | None = None
    labels: dict | None = None


class FlowUpdate(InputSchema):
    tags: list[str] | None = None


class FlowOut(Schema):
    id: UUID
    created: datetime
    updated: datetime
    name: str
    tags: list[str]
    labels: dict | None


class FlowFilterBody(RunFilterBody, Paging):
    sort: FlowSort | None = None


class FlowPaginateBody(RunFilterBody, PageRequest):
    sort: FlowSort | None = None


class FlowPage(Schema):
    results: list[FlowOut]
    count: int
    limit: int
    pages: int
    page: int


@router.post("/flows/", response={200: FlowOut, 201: FlowOut})
def create_flow(request, body: FlowCreate):
    flow, created = domain.create_flow(name=body.name, tags=body.tags, labels=body.labels)
    return Status(201 if created else 200, flow)


@router.post("/flows/filter", response=list[FlowOut])
def read_flows(request, body: FlowFilterBody | None = None):
    body = body or FlowFilterBody()
    return domain.read_flows(sort=body.sort or "NAME_ASC", window=body.window(), **body.filter_kwargs())


@router.post("/flows/count", response=int)
def count_flows(request, body: RunFilterBody | None = None):
    return domain.count_flows(**(body or RunFilterBody()).filter_kwargs())


@router.post("/flows/paginate", response=FlowPage)
def paginate_flows(request, body: FlowPaginateBody | None = None):
    body = body or FlowPaginateBody()
    flows = domain.read_flows(sort=body.sort or "NAME_ASC", window=body.window(), **body.filter_kwargs())
    return body.page_json(flows, domain.count_flows(**body.filter_kwargs()))


@router.post("/flows/bulk_delete")
def bulk_delete_flows(request, body: RunFilterBody | None = None):
    return {"deleted": domain.delete_flows(**(body or RunFilterBody()).filter_kwargs())}


@router.get("/flows/name/{name}", response=FlowOut)
def read_flow_by_name(request, name: str):
    return domain.read_flow_by_name(name=name)


@router.get("/flows/{id}", response=FlowOut)
def read_flow(request, id: UUID):
    return domain.read_flow(flow_id=id)


@router.patch("/flows/{id}")
def update_flow(request, id: UUID, body: FlowUpdate):
    domain.update_flow(flow_id=id, tags=body.tags)
    return no_content()


@router.delete("/flows/{id}")
def delete_flow(request, id: UUID):
    domain.delete_flow(flow_id=id)
    return no_content()

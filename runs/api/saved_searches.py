"""Saved searches: the runs list's named filter sets (PUT saves by name; 201 when new, 200 when replaced)."""

from datetime import datetime
from uuid import UUID

from ninja import Router, Schema, Status

from runs.domain import saved_searches as domain

from .base import no_content
from .common import InputSchema, Paging

router = Router(tags=["SavedSearches"])


class SavedSearchCreate(InputSchema):
    name: str
    filters: list[domain.SavedSearchFilter] | None = None


class SavedSearchOut(Schema):
    id: UUID
    created: datetime
    updated: datetime
    name: str
    filters: list[dict]


@router.put("/saved_searches/", response={200: SavedSearchOut, 201: SavedSearchOut})
def save_search(request, body: SavedSearchCreate):
    search, created = domain.save_search(name=body.name, filters=body.filters or [])
    return Status(201 if created else 200, search)


@router.post("/saved_searches/filter", response=list[SavedSearchOut])
def read_saved_searches(request, body: Paging | None = None):
    return domain.read_saved_searches(window=(body or Paging()).window())


@router.get("/saved_searches/{id}", response=SavedSearchOut)
def read_saved_search(request, id: UUID):
    return domain.read_saved_search(saved_search_id=id)


@router.delete("/saved_searches/{id}", response={204: None})
def delete_saved_search(request, id: UUID):
    domain.delete_saved_search(saved_search_id=id)
    return no_content()

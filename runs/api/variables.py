from datetime import datetime
from typing import Any, Literal
from uuid import UUID

from ninja import Router, Schema, Status

from runs.domain import variables as domain

from .base import no_content
from .common import InputSchema, Paging

router = Router(tags=["Variables"])

VariableSort = Literal[tuple(domain.VARIABLE_SORTS)]


class VariableCreate(InputSchema):
    # Name and value rules live in the domain so the dashboard gets the same messages.
    name: str
    value: Any  # required, though JSON null is a value
    tags: list[str] | None = None


class VariableUpdate(InputSchema):
    name: str | None = None
    value: Any = None
    tags: list[str] | None = None

    def changes(self) -> dict:
        # Only what the body mentions: an explicit `"value": null` sets null, a missing value keeps it.
        return {field: getattr(self, field) for field in self.model_fields_set}


class VariableOut(Schema):
    id: UUID
    created: datetime
    updated: datetime
    name: str
    value: Any = None
    tags: list[str]


class VariableFilterBody(Paging):
    variables: domain.VariableFilter | None = None
    sort: VariableSort | None = None


class VariableCountBody(InputSchema):
    variables: domain.VariableFilter | None = None


@router.post("/variables/", response={201: VariableOut})
def create_variable(request, body: VariableCreate):
    return Status(201, domain.create_variable(name=body.name, value=body.value, tags=body.tags))


@router.post("/variables/filter", response=list[VariableOut])
def read_variables(request, body: VariableFilterBody | None = None):
    body = body or VariableFilterBody()
    return domain.read_variables(variables=body.variables, sort=body.sort or "NAME_ASC", window=body.window())


@router.post("/variables/count", response=int)
def count_variables(request, body: VariableCountBody | None = None):
    return domain.count_variables(variables=(body or VariableCountBody()).variables)


@router.get("/variables/name/{name}", response=VariableOut)
def read_variable_by_name(request, name: str):
    return domain.read_variable_by_name(name=name)


@router.patch("/variables/name/{name}")
def update_variable_by_name(request, name: str, body: VariableUpdate):
    domain.update_variable_by_name(current_name=name, **body.changes())
    return no_content()


@router.delete("/variables/name/{name}")
def delete_variable_by_name(request, name: str):
    domain.delete_variable_by_name(name=name)
    return no_content()


@router.get("/variables/{id}", response=VariableOut)
def read_variable(request, id: UUID):
    return domain.read_variable(variable_id=id)


@router.patch("/variables/{id}")
def update_variable(request, id: UUID, body: VariableUpdate):
    domain.update_variable_by_id(variable_id=id, **body.changes())
    return no_content()


@router.delete("/variables/{id}")
def delete_variable(request, id: UUID):
    domain.delete_variable(variable_id=id)
    return no_content()

from contextlib import contextmanager
from datetime import datetime
from uuid import UUID

from ninja import Router, Schema, Status
from ninja.errors import HttpError

from runs.domain import blocks as domain

from .base import json_response, no_content
from .common import InputSchema, Paging

router = Router(tags=["Block types"])


class BlockTypeCreate(InputSchema):
    name: str
    slug: str
    logo_url: str | None = None
    documentation_url: str | None = None
    description: str | None = None
    code_example: str | None = None


class BlockTypeUpdate(InputSchema):
    logo_url: str | None = None
    documentation_url: str | None = None
    description: str | None = None
    code_example: str | None = None


class BlockTypeOut(Schema):
    id: UUID
    created: datetime
    updated: datetime
    name: str
    slug: str
    logo_url: str | None
    documentation_url: str | None
    description: str | None
    code_example: str | None
    is_protected: bool


class BlockTypeFilterBody(Paging):
    block_types: domain.BlockTypeFilter | None = None
    block_schemas: domain.BlockSchemaFilter | None = None


def block_type_json(block_type) -> dict:
    return {
        "id": block_type.id,
        "created": block_type.created,
        "updated": block_type.updated,
        "name": block_type.name,
        "slug": block_type.slug,
        "logo_url": block_type.logo_url,
        "documentation_url": block_type.documentation_url,
        "description": block_type.description,
        "code_example": block_type.code_example,
        "is_protected": block_type.is_protected,
    }


@contextmanager
def protected_is_forbidden():
    try:
        yield
    except domain.ProtectedBlockType as error:
        raise HttpError(403, str(error)) from None


@router.post("/block_types/", response={201: BlockTypeOut})
def create_block_type(request, body: BlockTypeCreate):
    return Status(201, block_type_json(domain.create_block_type(**body.model_dump())))


@router.post("/block_types/filter", response=list[BlockTypeOut])
def read_block_types(request, body: BlockTypeFilterBody | None = None):
    body = body or BlockTypeFilterBody()
    block_types = domain.read_block_types(block_types=body.block_types, block_schemas=body.block_schemas,
                                          window=body.window())
    return json_response([block_type_json(block_type) for block_type in block_types])


@router.get("/block_types/slug/{slug}", response=BlockTypeOut)
def read_block_type_by_slug(request, slug: str):
    return block_type_json(domain.read_block_type_by_slug(slug=slug))


@router.get("/block_types/{id}", response=BlockTypeOut)
def read_block_type(request, id: UUID):
    return block_type_json(domain.read_block_type(block_type_id=id))


@router.patch("/block_types/{id}")
def update_block_type(request, id: UUID, body: BlockTypeUpdate):
    with protected_is_forbidden():
        domain.update_block_type(block_type_id=id, **body.model_dump(exclude_unset=True))
    return no_content()


@router.delete("/block_types/{id}")
def delete_block_type(request, id: UUID):
    with protected_is_forbidden():
        domain.delete_block_type(block_type_id=id)
    return no_content()

from datetime import datetime
from typing import Any
from uuid import UUID

from ninja import Router, Schema

from runs.domain import blocks as domain

from .base import json_response, no_content
from .block_types import BlockTypeOut, block_type_json, protected_is_forbidden
from .common import InputSchema, Paging

router = Router(tags=["Block schemas"])


class BlockSchemaCreate(InputSchema):
    fields: dict[str, Any] = {}
    block_type_id: UUID
    capabilities: list[str] | None = None
    version: str | None = None


class BlockSchemaOut(Schema):
    id: UUID
    created: datetime
    updated: datetime
    checksum: str
    fields: dict
    block_type_id: UUID | None
    block_type: BlockTypeOut | None
    capabilities: list[str]
    version: str


class BlockSchemaFilterBody(Paging):
    block_schemas: domain.BlockSchemaFilter | None = None


def block_schema_json(schema) -> dict:
    return {
        "id": schema.id,
        "created": schema.created,
        "updated": schema.updated,
        "checksum": schema.checksum,
        "fields": schema.fields,
        "block_type_id": schema.block_type_id,
        "block_type": block_type_json(schema.block_type),
        "capabilities": schema.capabilities,
        "version": schema.version,
    }


@router.post("/block_schemas/", response={200: BlockSchemaOut, 201: BlockSchemaOut})
def create_block_schema(request, body: BlockSchemaCreate):
    # The same fields registered again answer the existing schema with 200, so registration is idempotent.
    schema, created = domain.create_block_schema(**body.model_dump())
    return json_response(block_schema_json(schema), status=201 if created else 200)


@router.post("/block_schemas/filter", response=list[BlockSchemaOut])
def read_block_schemas(request, body: BlockSchemaFilterBody | None = None):
    body = body or BlockSchemaFilterBody()
    schemas = domain.read_block_schemas(block_schemas=body.block_schemas, window=body.window())
    return json_response([block_schema_json(schema) for schema in schemas])


@router.get("/block_schemas/checksum/{checksum}", response=BlockSchemaOut)
def read_block_schema_by_checksum(request, checksum: str, version: str | None = None):
    return json_response(block_schema_json(domain.read_block_schema_by_checksum(checksum=checksum, version=version)))


@router.get("/block_schemas/{id}", response=BlockSchemaOut)
def read_block_schema(request, id: UUID):
    return json_response(block_schema_json(domain.read_block_schema(block_schema_id=id)))


@router.delete("/block_schemas/{id}")
def delete_block_schema(request, id: UUID):
    with protected_is_forbidden():
        domain.delete_block_schema(block_schema_id=id)
    return no_content()

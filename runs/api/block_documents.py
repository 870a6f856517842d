from datetime import datetime
from typing import Any, Literal
from uuid import UUID

from ninja import Router, Schema

from runs.domain import blocks as domain

from .base import json_response, no_content
from .block_schemas import BlockSchemaOut, block_schema_json
from .block_types import BlockTypeOut, block_type_json
from .common import InputSchema, Paging

router = Router(tags=["Block documents"])

BlockDocumentSort = Literal[tuple(domain.BLOCK_DOCUMENT_SORTS)]


class BlockDocumentCreate(InputSchema):
    name: str | None = None
    data: dict[str, Any] | None = None
    block_schema_id: UUID
    block_type_id: UUID
    is_anonymous: bool | None = False


class BlockDocumentUpdate(InputSchema):
    block_schema_id: UUID | None = None
    data: dict[str, Any] | None = None
    merge_existing_data: bool | None = True


class BlockDocumentOut(Schema):
    id: UUID
    created: datetime
    updated: datetime
    name: str | None
    data: dict
    block_schema_id: UUID
    block_schema: BlockSchemaOut | None
    block_type_id: UUID
    block_type_name: str | None
    block_type: BlockTypeOut | None
    block_document_references: dict
    is_anonymous: bool


class BlockDocumentFilters(InputSchema):
    block_documents: domain.BlockDocumentFilter | None = None
    block_types: domain.BlockTypeFilter | None = None
    block_schemas: domain.BlockSchemaFilter | None = None

    def filter_kwargs(self) -> dict:
        return {"block_documents": self.block_documents, "block_types": self.block_types,
                "block_schemas": self.block_schemas}


class BlockDocumentFilterBody(BlockDocumentFilters, Paging):
    include_secrets: bool | None = False
    sort: BlockDocumentSort | None = None


def references_json(references: dict) -> dict:
    return {
        name: {"block_document": {
            **reference["block_document"],
            "block_type": block_type_json(reference["block_document"]["block_type"]),
            "block_document_references": references_json(reference["block_document"]["block_document_references"]),
        }}
        for name, reference in references.items()
    }


def block_document_json(full) -> dict:
    document = full.document
    return {
        "id": document.id,
        "created": document.created,
        "updated": document.updated,
        "name": document.name,
        "data": full.data,
        "block_schema_id": document.block_schema_id,
        "block_schema": block_schema_json(document.block_schema),
        "block_type_id": document.block_type_id,
        "block_type_name": document.block_type.name,
        "block_type": block_type_json(document.block_type),
        "block_document_references": references_json(full.references),
        "is_anonymous": document.is_anonymous,
    }


@router.post("/block_documents/", response={201: BlockDocumentOut})
def create_block_document(request, body: BlockDocumentCreate):
    document = domain.create_block_document(
        name=body.name, data=body.data, block_schema_id=body.block_schema_id, block_type_id=body.block_type_id,
        is_anonymous=bool(body.is_anonymous),
    )
    return json_response(block_document_json(document), status=201)


@router.post("/block_documents/filter", response=list[BlockDocumentOut])
def read_block_documents(request, body: BlockDocumentFilterBody | None = None):
    body = body or BlockDocumentFilterBody()
    documents = domain.read_block_documents(
        include_secrets=bool(body.include_secrets), sort=body.sort or "NAME_ASC", window=body.window(),
        **body.filter_kwargs(),
    )
    return json_response([block_document_json(document) for document in documents])


@router.post("/block_documents/count", response=int)
def count_block_documents(request, body: BlockDocumentFilters | None = None):
    return domain.count_block_documents(**(body or BlockDocumentFilters()).filter_kwargs())


@router.get("/block_documents/{id}", response=BlockDocumentOut)
def read_block_document(request, id: UUID, include_secrets: bool = False):
    return json_response(block_document_json(
        domain.read_block_document(block_document_id=id, include_secrets=include_secrets)
    ))


@router.patch("/block_documents/{id}")
def update_block_document(request, id: UUID, body: BlockDocumentUpdate):
    domain.update_block_document(
        block_document_id=id, data=body.data, block_schema_id=body.block_schema_id,
        merge_existing_data=body.merge_existing_data is not False,
    )
    return no_content()


@router.delete("/block_documents/{id}")
def delete_block_document(request, id: UUID):
    domain.delete_block_document(block_document_id=id)
    return no_content()


# Documents of one block type, addressed by the type's slug (how `Block.load("name")` finds them).
@router.get("/block_types/slug/{slug}/block_documents", response=list[BlockDocumentOut])
def read_block_documents_of_type(request, slug: str, include_secrets: bool = False):
    domain.read_block_type_by_slug(slug=slug)  # 404 for an unknown type rather than an empty list
    documents = domain.read_block_documents(
        include_secrets=include_secrets, block_types=domain.BlockTypeFilter(slug={"any_": [slug]}),
    )
    return json_response([block_document_json(document) for document in documents])


@router.get("/block_types/slug/{slug}/block_documents/name/{block_document_name}", response=BlockDocumentOut)
def read_block_document_by_name(request, slug: str, block_document_name: str, include_secrets: bool = False):
    document = domain.read_block_document_by_name(
        block_type_slug=slug, name=block_document_name, include_secrets=include_secrets
    )
    return json_response(block_document_json(document))

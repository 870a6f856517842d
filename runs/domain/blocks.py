"""Blocks: block types, their schemas (identified by checksum) and saved block documents.

Block document data is encrypted at rest with Fernet; the key comes from the
PREFECT_SERVER_ENCRYPTION_KEY setting, or from a key file under PREFECT_HOME created (0600) on
first use, so it never sits next to the rows it protects. Reads mask the fields a block schema
lists in `secret_fields` unless the caller asks for secrets, as `Block.load()` does.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import threading
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
from cryptography.fernet import Fernet, InvalidToken
from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from runs.models import BlockDocument, BlockDocumentReference, BlockSchema, BlockType

from . import filters
from .events import publish_event
from .errors import AlreadyExists, Conflict, InvalidInput, NotFound

# Encryption at rest --------------------------------------------------------------------------------

ENCRYPTION_KEY_SETTING = "PREFECT_SERVER_ENCRYPTION_KEY"
KEY_FILE_NAME = "block_encryption.key"
_fernet: Fernet | None = None
_fernet_lock = threading.Lock()


class ProtectedBlockType(Exception):
    """-> 403: server-owned block types cannot be changed through the API."""


def key_file_path() -> Path:
    return Path(settings.PREFECT_HOME) / KEY_FILE_NAME


def load_or_create_key() -> bytes:
    configured = os.environ.get(ENCRYPTION_KEY_SETTING) or getattr(settings, ENCRYPTION_KEY_SETTING, None)
    if configured:
        return configured.encode() if isinstance(configured, str) else configured
    path = key_file_path()
    try:
        return path.read_bytes().strip()
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    key = Fernet.generate_key()
    try:
        # O_EXCL: when several workers start at once, exactly one key wins and the others read it.
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_bytes().strip()
    with os.fdopen(descriptor, "wb") as key_file:
        key_file.write(key)
    return key


def fernet() -> Fernet:
    global _fernet
    with _fernet_lock:
        if _fernet is None:
            _fernet = Fernet(load_or_create_key())
        return _fernet


def reset_encryption_key_cache() -> None:
    """Forget the loaded key (tests and key rotation tools change where it comes from)."""
    global _fernet
    with _fernet_lock:
        _fernet = None


def encrypt_data(data: dict) -> str:
    return fernet().encrypt(orjson.dumps(data)).decode()


def decrypt_data(token: str) -> dict:
    try:
        return orjson.loads(fernet().decrypt(token.encode()))
    except InvalidToken:
        raise Conflict("Block document data cannot be decrypted with the configured encryption key.") from None


# Secret masking ------------------------------------------------------------------------------------

OBFUSCATED = "********"


def flatten(data: dict, prefix: tuple = ()) -> dict[tuple, Any]:
    """{"a": {"b": 1}} -> {("a", "b"): 1}; lists are leaves."""
    flat = {}
    for key, value in data.items():
        path = (*prefix, key)
        if isinstance(value, dict) and value:
            flat.update(flatten(value, path))
        else:
            flat[path] = value
    return flat


def unflatten(flat: dict[tuple, Any]) -> dict:
    data: dict = {}
    for path, value in flat.items():
        node = data
        for key in path[:-1]:
            node = node.setdefault(key, {})
        node[path[-1]] = value
    return data


def secret_paths_in(flat: dict[tuple, Any], secret_fields: list[str]) -> list[tuple]:
    """The flattened keys the schema's secret fields cover: exact dotted paths, or everything under a `*`."""
    paths = []
    for secret_field in secret_fields or []:
        pattern = tuple(secret_field.split("."))
        if "*" in pattern:
            stem = pattern[: pattern.index("*")]
            paths.extend(key for key in flat if key[: len(stem)] == stem and len(key) > len(stem))
        elif pattern in flat:
            paths.append(pattern)
        else:
            # A secret field holding a whole object: mask every leaf below it.
            paths.extend(key for key in flat if key[: len(pattern)] == pattern)
    return paths


def mask_secrets(data: dict, secret_fields: list[str]) -> dict:
    if not secret_fields:
        return data
    flat = flatten(data)
    for path in secret_paths_in(flat, secret_fields):
        if flat[path] is not None:
            flat[path] = OBFUSCATED
    return unflatten(flat)


def keep_unchanged_secrets(new_data: dict, current_data: dict, secret_fields: list[str]) -> dict:
    """A form or client that posts back the mask it was shown means "keep the secret", not "set it to ****"."""
    if not secret_fields:
        return new_data
    flat_new, flat_current = flatten(new_data), flatten(current_data)
    for path in secret_paths_in(flat_new, secret_fields):
        if flat_new[path] == OBFUSCATED and path in flat_current:
            flat_new[path] = flat_current[path]
    return unflatten(flat_new)


# Schema checksums ----------------------------------------------------------------------------------


def without_key(obj: Any, key: str) -> Any:
    if not isinstance(obj, dict):
        return obj
    return {k: without_key(v, key) for k, v in obj.items() if k != key}


def references_in(obj: Any) -> list[str]:
    found = []
    if isinstance(obj, dict):
        if isinstance(obj.get("$ref"), str):
            found.append(obj["$ref"])
        for value in obj.values():
            found.extend(references_in(value))
    elif isinstance(obj, list):
        for item in obj:
            found.extend(references_in(item))
    return found


def plain_definitions(obj: Any, definitions: dict, seen: set | None = None) -> dict:
    """Definitions reachable from obj that are not blocks themselves (nested blocks have their own schema)."""
    seen = set() if seen is None else seen
    found = {}
    for reference in references_in(obj):
        name = reference.replace("#/definitions/", "")
        definition = definitions.get(name)
        # An empty definition counts as absent, as it does for the client's checksum.
        if name in seen or not definition or not isinstance(definition, dict) or definition.get("block_type_slug") is not None:
            continue
        seen.add(name)
        found[name] = definition
        found.update(plain_definitions(definition, definitions, seen))
    return found


def schema_checksum(fields: dict) -> str:
    """The checksum the client computes for the same fields, so `GET /block_schemas/checksum/...` finds them:
    sha256 over the sorted-key JSON of the fields without `secret_fields` and without nested block definitions."""
    fields = without_key(fields, "secret_fields")
    if fields.get("definitions"):
        kept = plain_definitions(fields, fields["definitions"])
        if kept:
            fields["definitions"] = kept
        else:
            fields.pop("definitions")
    text = json.dumps([[fields], {}], sort_keys=True)
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


# Block types ---------------------------------------------------------------------------------------

BANNED_NAME_CHARACTERS = re.compile(r"[/%&><]")
SLUG_PATTERN = re.compile(r"^[a-z0-9-]+$")


def validate_block_name(name: Any, what: str) -> str:
    if not isinstance(name, str) or not name.strip():
        raise InvalidInput(f"{what} must be a non-empty string.")
    if BANNED_NAME_CHARACTERS.search(name):
        raise InvalidInput(f"{what} must not contain any of / % & > <.")
    if len(name) > 255:
        raise InvalidInput(f"{what} must be at most 255 characters.")
    return name


def create_block_type(*, name: str, slug: str, **metadata) -> BlockType:
    validate_block_name(name, "Block type name")
    if not isinstance(slug, str) or not SLUG_PATTERN.match(slug):
        raise InvalidInput("Block type slug must only contain lowercase letters, numbers, and dashes.")
    block_type = BlockType(name=name, slug=slug, **metadata)
    try:
        with transaction.atomic():
            block_type.save(force_insert=True)
    except IntegrityError:
        raise AlreadyExists(f"Block type with name {name!r} or slug {slug!r} already exists") from None
    return block_type


def read_block_type(*, block_type_id) -> BlockType:
    try:
        return BlockType.objects.get(id=block_type_id)
    except BlockType.DoesNotExist:
        raise NotFound("Block type not found") from None


def read_block_type_by_slug(*, slug: str) -> BlockType:
    try:
        return BlockType.objects.get(slug=slug)
    except BlockType.DoesNotExist:
        raise NotFound("Block type not found") from None


BLOCK_TYPE_METADATA = ("logo_url", "documentation_url", "description", "code_example")


def update_block_type(*, block_type_id, **changes) -> None:
    block_type = read_block_type(block_type_id=block_type_id)
    if block_type.is_protected:
        raise ProtectedBlockType("protected block types cannot be updated.")
    changed = [name for name in BLOCK_TYPE_METADATA if name in changes]
    for name in changed:
        setattr(block_type, name, changes[name])
    if changed:
        block_type.save(update_fields=[*changed, "updated"])


def delete_block_type(*, block_type_id) -> None:
    block_type = read_block_type(block_type_id=block_type_id)
    if block_type.is_protected:
        raise ProtectedBlockType("protected block types cannot be deleted.")
    block_type.delete()


class AnyOfFilter(filters.FilterModel):
    """`{"any_": [...]}` on one column; null means no condition."""

    any_: list[str] | None = None

    def to_q(self, prefix: str = "", field: str = "id") -> Q:
        return filters.when(self.any_ is not None, Q(**{f"{prefix}{field}__in": self.any_ or []}))


class IdListFilter(AnyOfFilter):
    any_: list[uuid.UUID] | None = None


class LikeFilter(filters.FilterModel):
    like_: str | None = None

    def to_q(self, prefix: str = "", field: str = "name") -> Q:
        return filters.when(self.like_, Q(**{f"{prefix}{field}__icontains": self.like_}))


class BlockTypeFilter(filters.FilterModel):
    name: LikeFilter | None = None
    slug: AnyOfFilter | None = None

    def to_q(self, prefix: str = "") -> Q:
        return filters.combine([
            self.name.to_q(prefix, "name") if self.name else filters.ALL,
            self.slug.to_q(prefix, "slug") if self.slug else filters.ALL,
        ])


class CapabilitiesFilter(filters.FilterModel):
    all_: list[str] | None = None

    def to_q(self, prefix: str = "") -> Q:
        return filters.combine([Q(**{f"{prefix}capabilities__has_tag": name}) for name in self.all_ or []])


class BlockSchemaFilter(filters.OperatorFilter):
    block_type_id: IdListFilter | None = None
    block_capabilities: CapabilitiesFilter | None = None
    id: IdListFilter | None = None
    version: AnyOfFilter | None = None

    def to_q(self, prefix: str = "") -> Q:
        return filters.combine([
            self.block_type_id.to_q(prefix, "block_type_id") if self.block_type_id else filters.ALL,
            self.block_capabilities.to_q(prefix) if self.block_capabilities else filters.ALL,
            self.id.to_q(prefix, "id") if self.id else filters.ALL,
            self.version.to_q(prefix, "version") if self.version else filters.ALL,
        ], self.operator)


def read_block_types(*, block_types: BlockTypeFilter | None = None, block_schemas: BlockSchemaFilter | None = None,
                     window: slice | None = None) -> list[BlockType]:
    queryset = BlockType.objects.filter(block_types.to_q() if block_types else filters.ALL)
    if block_schemas:
        schema_q = block_schemas.to_q()
        if schema_q != filters.ALL:
            queryset = queryset.filter(id__in=BlockSchema.objects.filter(schema_q).values("block_type_id"))
    queryset = queryset.order_by("name")
    return list(queryset[window] if window else queryset)


# Block schemas -------------------------------------------------------------------------------------


def create_block_schema(*, fields: dict, block_type_id, capabilities: list[str] | None = None,
                        version: str | None = None) -> tuple[BlockSchema, bool]:
    """The schema for these fields, created if new. Returns (schema, created); the same fields twice is one schema."""
    block_type = read_block_type(block_type_id=block_type_id)
    version = version or "non-versioned"
    checksum = schema_checksum(fields)
    existing = BlockSchema.objects.select_related("block_type").filter(checksum=checksum, version=version).first()
    if existing:
        return existing, False
    try:
        with transaction.atomic():
            schema = BlockSchema.objects.create(
                checksum=checksum, fields=fields, block_type=block_type, capabilities=capabilities or [], version=version
            )
    except IntegrityError:  # the same schema registered concurrently
        return BlockSchema.objects.select_related("block_type").get(checksum=checksum, version=version), False
    return schema, True


def read_block_schema(*, block_schema_id) -> BlockSchema:
    try:
        return BlockSchema.objects.select_related("block_type").get(id=block_schema_id)
    except BlockSchema.DoesNotExist:
        raise NotFound("Block schema not found") from None


def read_block_schema_by_checksum(*, checksum: str, version: str | None = None) -> BlockSchema:
    queryset = BlockSchema.objects.select_related("block_type").filter(checksum=checksum)
    if version is not None:
        queryset = queryset.filter(version=version)
    schema = queryset.order_by("-created").first()
    if schema is None:
        raise NotFound("Block schema not found")
    return schema


def read_block_schemas(*, block_schemas: BlockSchemaFilter | None = None, window: slice | None = None):
    queryset = (
        BlockSchema.objects.select_related("block_type")
        .filter(block_schemas.to_q() if block_schemas else filters.ALL)
        .order_by("-created", "id")
    )
    return list(queryset[window] if window else queryset)


def delete_block_schema(*, block_schema_id) -> None:
    schema = read_block_schema(block_schema_id=block_schema_id)
    if schema.block_type.is_protected:
        raise ProtectedBlockType("protected block types cannot be changed.")
    schema.delete()


def read_block_capabilities() -> list[str]:
    capabilities = set()
    for listed in BlockSchema.objects.values_list("capabilities", flat=True):
        capabilities.update(listed or [])
    return sorted(capabilities)


# Block documents -----------------------------------------------------------------------------------

MAX_REFERENCE_DEPTH = 50


@dataclass
class FullBlockDocument:
    """A document with its nested references resolved into `data`, ready to answer with."""

    document: BlockDocument
    data: dict
    references: dict = field(default_factory=dict)


def split_references(data: dict) -> tuple[dict, list[tuple[str, uuid.UUID]]]:
    """Top-level `{"$ref": {"block_document_id": ...}}` values become reference rows; the rest is data."""
    plain, references = {}, []
    for key, value in data.items():
        if isinstance(value, dict) and "$ref" in value:
            target = value["$ref"].get("block_document_id") if isinstance(value["$ref"], dict) else None
            try:
                references.append((key, uuid.UUID(str(target))))
            except ValueError:
                raise InvalidInput(f"Block reference in field {key!r} has no valid block_document_id.") from None
        else:
            plain[key] = value
    return plain, references


def reaches(start_id, target_id) -> bool:
    """Whether following references from start_id arrives at target_id (a reference back would form a cycle)."""
    frontier, seen = {start_id}, set()
    while frontier:
        if target_id in frontier:
            return True
        seen |= frontier
        frontier = set(
            BlockDocumentReference.objects.filter(parent_block_document_id__in=frontier)
            .values_list("reference_block_document_id", flat=True)
        ) - seen
    return False


def write_references(document: BlockDocument, references: list[tuple[str, uuid.UUID]]) -> None:
    targets = set(BlockDocument.objects.filter(id__in=[target for _, target in references]).values_list("id", flat=True))
    for name, target in references:
        if target not in targets:
            raise NotFound(f"Referenced block document {target} not found")
        if reaches(target, document.id):
            raise InvalidInput(f"Block reference in field {name!r} would form a cycle.")
    current = {(ref.name, ref.reference_block_document_id): ref for ref in document.references.all()}
    wanted = set(references)
    BlockDocumentReference.objects.filter(id__in=[ref.id for key, ref in current.items() if key not in wanted]).delete()
    BlockDocumentReference.objects.bulk_create([
        BlockDocumentReference(name=name, parent_block_document=document, reference_block_document_id=target)
        for name, target in references if (name, target) not in current
    ])


def check_schema_matches_type(schema: BlockSchema, block_type_id) -> None:
    if str(schema.block_type_id) != str(block_type_id):
        raise InvalidInput("The block schema does not belong to the given block type.")


def publish_block_document_event(document: BlockDocument, action: str) -> None:
    """`prefect.block-document.<action>`, naming the document and its type; never any of its data."""
    publish_event({
        "id": str(uuid.uuid4()),
        "occurred": timezone.now().isoformat(),
        "event": f"prefect.block-document.{action}",
        "resource": {"prefect.resource.id": f"prefect.block-document.{document.id}",
                     "prefect.resource.name": document.name},
        "related": [{"prefect.resource.id": f"prefect.block-type.{document.block_type.slug}",
                     "prefect.resource.role": "block-type"}],
        "payload": {},
    })


def create_block_document(*, name: str | None, data: dict | None, block_schema_id, block_type_id,
                          is_anonymous: bool = False) -> FullBlockDocument:
    if is_anonymous and not name:
        name = f"anonymous-{uuid.uuid4()}"
    validate_block_name(name, "Block document name" if not is_anonymous else "Anonymous block document name")
    schema = read_block_schema(block_schema_id=block_schema_id)
    read_block_type(block_type_id=block_type_id)
    check_schema_matches_type(schema, block_type_id)
    plain, references = split_references(data or {})
    try:
        with transaction.atomic():
            document = BlockDocument.objects.create(
                name=name, encrypted_data=encrypt_data(plain), block_schema=schema, block_type_id=block_type_id,
                is_anonymous=is_anonymous,
            )
            write_references(document, references)
            publish_block_document_event(document, "created")
    except IntegrityError:
        raise AlreadyExists("Block already exists") from None
    return read_block_document(block_document_id=document.id)


def document_queryset():
    return BlockDocument.objects.select_related("block_schema__block_type", "block_type")


def assemble(documents: list[BlockDocument], include_secrets: bool) -> list[FullBlockDocument]:
    """Decrypt, mask and nest referenced documents, loading each level of references in one query."""
    full = {doc.id: FullBlockDocument(doc, own_data(doc, include_secrets)) for doc in documents}
    level = list(full.values())
    for _ in range(MAX_REFERENCE_DEPTH):
        refs = list(
            BlockDocumentReference.objects.filter(parent_block_document_id__in={item.document.id for item in level})
            .select_related("reference_block_document__block_schema__block_type", "reference_block_document__block_type")
        )
        if not refs:
            break
        next_level = []
        by_parent: dict = {}
        for item in level:
            by_parent.setdefault(item.document.id, []).append(item)
        for ref in refs:
            child_doc = ref.reference_block_document
            for parent in by_parent.get(ref.parent_block_document_id, []):
                child = FullBlockDocument(child_doc, own_data(child_doc, include_secrets))
                parent.data[ref.name] = child.data
                parent.references[ref.name] = {"block_document": {
                    "id": child_doc.id,
                    "name": child_doc.name,
                    "block_type": child_doc.block_type,
                    "is_anonymous": child_doc.is_anonymous,
                    "block_document_references": child.references,  # filled as the next level is read
                }}
                next_level.append(child)
        level = next_level
    return [full[doc.id] for doc in documents]


def own_data(document: BlockDocument, include_secrets: bool) -> dict:
    data = decrypt_data(document.encrypted_data)
    if include_secrets:
        return data
    return mask_secrets(data, document.block_schema.fields.get("secret_fields", []))


def read_block_document(*, block_document_id, include_secrets: bool = False) -> FullBlockDocument:
    document = document_queryset().filter(id=block_document_id).first()
    if document is None:
        raise NotFound("Block document not found")
    return assemble([document], include_secrets)[0]


def read_block_document_by_name(*, block_type_slug: str, name: str, include_secrets: bool = False) -> FullBlockDocument:
    document = document_queryset().filter(block_type__slug=block_type_slug, name=name).first()
    if document is None:
        raise NotFound("Block document not found")
    return assemble([document], include_secrets)[0]


class IsAnonymousFilter(filters.FilterModel):
    eq_: bool | None = None


class BlockDocumentNameFilter(filters.FilterModel):
    any_: list[str] | None = None
    like_: str | None = None


class BlockDocumentFilter(filters.OperatorFilter):
    id: IdListFilter | None = None
    # Anonymous documents (nested values saved by the client) are hidden unless asked for.
    is_anonymous: IsAnonymousFilter | None = IsAnonymousFilter(eq_=False)
    block_type_id: IdListFilter | None = None
    name: BlockDocumentNameFilter | None = None

    def to_q(self, prefix: str = "") -> Q:
        clauses = [
            self.id.to_q(prefix, "id") if self.id else filters.ALL,
            self.block_type_id.to_q(prefix, "block_type_id") if self.block_type_id else filters.ALL,
        ]
        if self.is_anonymous and self.is_anonymous.eq_ is not None:
            clauses.append(Q(**{f"{prefix}is_anonymous": self.is_anonymous.eq_}))
        if self.name:
            clauses.append(filters.when(self.name.any_ is not None, Q(**{f"{prefix}name__in": self.name.any_ or []})))
            clauses.append(filters.when(self.name.like_, Q(**{f"{prefix}name__icontains": self.name.like_})))
        return filters.combine(clauses, self.operator)


BLOCK_DOCUMENT_SORTS = {
    "NAME_ASC": ["name", "id"],
    "NAME_DESC": ["-name", "-id"],
    "BLOCK_TYPE_AND_NAME_ASC": ["block_type__name", "name", "id"],
}


def block_document_q(*, block_documents=None, block_types=None, block_schemas=None) -> Q:
    # Without a document filter the default still applies: anonymous documents stay hidden.
    return filters.combine([
        (block_documents or BlockDocumentFilter()).to_q(),
        block_types.to_q("block_type__") if block_types else filters.ALL,
        block_schemas.to_q("block_schema__") if block_schemas else filters.ALL,
    ])


def read_block_documents(*, include_secrets: bool = False, sort: str = "NAME_ASC", window: slice | None = None,
                         **filter_kwargs) -> list[FullBlockDocument]:
    queryset = document_queryset().filter(block_document_q(**filter_kwargs)).order_by(*BLOCK_DOCUMENT_SORTS[sort])
    return assemble(list(queryset[window] if window else queryset), include_secrets)


def count_block_documents(**filter_kwargs) -> int:
    return BlockDocument.objects.filter(block_document_q(**filter_kwargs)).count()


def update_block_document(*, block_document_id, data: dict | None = None, block_schema_id=None,
                          merge_existing_data: bool = True) -> None:
    with transaction.atomic():
        document = (
            BlockDocument.objects.select_for_update(of=("self",)).select_related("block_schema", "block_type")
            .filter(id=block_document_id).first()
        )
        if document is None:
            raise NotFound("Block document not found")
        changed = []
        if block_schema_id is not None and str(block_schema_id) != str(document.block_schema_id):
            schema = read_block_schema(block_schema_id=block_schema_id)
            if schema.block_type_id != document.block_type_id:
                raise InvalidInput("Must migrate block document to a block schema of the same block type.")
            document.block_schema = schema
            changed.append("block_schema")
        if data is not None:
            current = decrypt_data(document.encrypted_data)
            data = keep_unchanged_secrets(data, current, document.block_schema.fields.get("secret_fields", []))
            plain, references = split_references(data)
            if merge_existing_data:
                plain = {**current, **plain}
                # Fields that keep their old reference stay references.
                kept = {ref.name: ref.reference_block_document_id for ref in document.references.all()}
                references = [*((n, t) for n, t in kept.items() if n not in data), *references]
                plain = {key: value for key, value in plain.items() if key not in dict(references)}
            document.encrypted_data = encrypt_data(plain)
            changed.append("encrypted_data")
            write_references(document, references)
        if changed:
            document.save(update_fields=[*changed, "updated"])
            publish_block_document_event(document, "updated")


def delete_block_document(*, block_document_id) -> None:
    with transaction.atomic():
        document = BlockDocument.objects.select_related("block_type").filter(id=block_document_id).first()
        if document is None:
            raise NotFound("Block document not found")
        publish_block_document_event(document, "deleted")
        document.delete()

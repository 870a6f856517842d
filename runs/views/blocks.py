"""Block pages: saved blocks listed by type, and a form built from a block schema to create or edit one.

Secret fields are never sent to the browser: documents are always read masked, a secret input shows
the mask, and posting the mask back keeps the stored value (the domain's rule for every client).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from itertools import groupby
from urllib.parse import urlencode

from django.contrib import messages
from django.db.models import Q
from django.shortcuts import redirect
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from orchestrator_site.htmx import render_page
from runs.domain import blocks as domain
from runs.domain.errors import AlreadyExists, InvalidInput, NotFound

from .common import dashboard_view
from .paging import Pager

PAGE_SIZE = 100  # documents per page; each one is decrypted to be listed
SIMPLE_INPUTS = {"string": "text", "integer": "number", "number": "number"}


@dataclass
class FormField:
    name: str
    title: str
    description: str
    widget: str  # text, number, password, checkbox, json, reference
    required: bool
    value: str = ""
    checked: bool = False
    options: list | None = None  # (id, name) of documents a reference field may point at
    step: str = "any"


def schema_fields(schema) -> dict:
    return schema.fields.get("properties") or {}


def is_secret(name: str, secret_fields: list[str]) -> bool:
    return any(path == name or path.startswith(name + ".") for path in secret_fields)


def reference_slug(schema, name: str) -> str | None:
    reference = (schema.fields.get("block_schema_references") or {}).get(name)
    if isinstance(reference, list):
        reference = reference[0] if reference else None
    return reference.get("block_type_slug") if isinstance(reference, dict) else None


def build_form(schema, full: domain.FullBlockDocument | None = None) -> list[FormField]:
    """One input per schema property, in the schema's order, filled from the (masked) document."""
    secret_fields = schema.fields.get("secret_fields") or []
    required = set(schema.fields.get("required") or [])
    data = full.data if full else {}
    references = full.references if full else {}
    properties = sorted(schema_fields(schema).items(), key=lambda item: item[1].get("position", 1_000))
    form = []
    for name, spec in properties:
        field = FormField(name=name, title=spec.get("title") or name, description=spec.get("description") or "",
                          widget="json", required=name in required)
        slug = reference_slug(schema, name)
        if slug:
            field.widget = "reference"
            current = references.get(name, {}).get("block_document", {})
            field.value = str(current.get("id", ""))
            # Named documents of the referenced type, plus the current one even if it is anonymous (saved inline).
            candidates = domain.document_queryset().filter(block_type__slug=slug).filter(
                Q(is_anonymous=False) | Q(id=current.get("id"))).order_by("name")
            field.options = [(doc.id, doc.name) for doc in candidates]
        elif is_secret(name, secret_fields):
            simple = not isinstance(data.get(name), (dict, list))
            field.widget = "password" if simple else "json"
            if name in data:
                field.value = data[name] if simple and isinstance(data[name], str) else json.dumps(data[name])
        elif spec.get("type") == "boolean":
            field.widget = "checkbox"
            field.checked = bool(data.get(name, spec.get("default", False)))
        elif spec.get("type") in SIMPLE_INPUTS:
            field.widget = SIMPLE_INPUTS[spec["type"]]
            field.step = "1" if spec["type"] == "integer" else "any"
            value = data.get(name, spec.get("default"))
            field.value = "" if value is None else str(value)
        elif name in data:
            field.value = json.dumps(data[name], indent=2)
        form.append(field)
    return form


def read_form(schema, post) -> dict:
    """The document data the submitted form describes; empty optional inputs are left out."""
    data = {}
    for field in build_form(schema):
        raw = post.get(field.name, "")
        if field.widget == "checkbox":
            data[field.name] = field.name in post
        elif raw == "" and field.widget != "text":
            continue
        elif field.widget == "reference":
            data[field.name] = {"$ref": {"block_document_id": raw}}
        elif field.widget == "number":
            try:
                number = float(raw)
            except ValueError:
                raise InvalidInput(f"{field.title} must be a number.") from None
            data[field.name] = int(number) if field.step == "1" and number.is_integer() else number
        elif field.widget in ("text", "password"):
            if raw == "" and not field.required:
                continue
            data[field.name] = raw
        else:
            try:
                data[field.name] = json.loads(raw)
            except ValueError:
                data[field.name] = raw  # plain text where the schema allows anything
    return data


@require_GET
@dashboard_view
def block_list(request):
    type_slug = (request.GET.get("type") or "").strip()[:255]
    search = (request.GET.get("q") or "").strip()[:200]
    pager = Pager.from_request(request, page_size=PAGE_SIZE)
    document_filters = {
        "block_types": domain.BlockTypeFilter(slug={"any_": [type_slug]}) if type_slug else None,
        "block_documents": domain.BlockDocumentFilter(name={"like_": search} if search else None),
    }
    documents = domain.read_block_documents(sort="BLOCK_TYPE_AND_NAME_ASC", window=pager.window, **document_filters)
    groups = [(block_type, list(items)) for block_type, items in
              groupby(documents, key=lambda full: full.document.block_type)]
    params = {key: value for key, value in (("q", search), ("type", type_slug)) if value}
    context = {"section": "blocks", "groups": groups, "block_types": domain.read_block_types(),
               "type_slug": type_slug, "search": search,
               "pager": pager.with_total(domain.count_block_documents(**document_filters)),
               "list_url": request.path, "base_params": urlencode(params)}
    return render_page(request, "runs/blocks.html", context, fragments={"block-list": "runs/partials/block_list.html"})


def latest_schema(block_type):
    schema = domain.read_block_schemas(block_schemas=domain.BlockSchemaFilter(block_type_id={"any_": [block_type.id]}),
                                       window=slice(0, 1))
    if not schema:
        raise NotFound(f"Block type {block_type.name} has no schema yet: register it from Python first.")
    return schema[0]


@require_http_methods(["GET", "POST"])
@dashboard_view
def create_block(request, slug):
    block_type = domain.read_block_type_by_slug(slug=slug)
    schema = latest_schema(block_type)
    error, name = None, ""
    if request.method == "POST":
        name = request.POST.get("block_name", "").strip()
        try:
            full = domain.create_block_document(name=name, data=read_form(schema, request.POST),
                                                block_schema_id=schema.id, block_type_id=block_type.id)
        except (InvalidInput, AlreadyExists, NotFound) as exc:
            error = str(exc)
        else:
            messages.success(request, f"Saved block {block_type.slug}/{full.document.name}.")
            return redirect("dashboard:block", full.document.id)
    context = {"section": "blocks", "block_type": block_type, "schema": schema, "form": build_form(schema),
               "name": name, "error": error}
    return render_page(request, "runs/block_form.html", context, status=400 if error else 200)


@require_http_methods(["GET", "POST"])
@dashboard_view
def block_detail(request, block_document_id):
    full = domain.read_block_document(block_document_id=block_document_id)  # masked: secrets never leave the server
    schema = full.document.block_schema
    error = None
    if request.method == "POST":
        try:
            domain.update_block_document(block_document_id=block_document_id, data=read_form(schema, request.POST),
                                         merge_existing_data=False)
        except (InvalidInput, NotFound) as exc:
            error = str(exc)
        else:
            messages.success(request, f"Saved block {full.document.block_type.slug}/{full.document.name}.")
            return redirect("dashboard:block", block_document_id)
    context = {"section": "blocks", "full": full, "document": full.document, "block_type": full.document.block_type,
               "schema": schema, "form": build_form(schema, full), "error": error}
    return render_page(request, "runs/block_form.html", context, status=400 if error else 200)


@require_POST
@dashboard_view
def delete_block(request, block_document_id):
    full = domain.read_block_document(block_document_id=block_document_id)
    domain.delete_block_document(block_document_id=block_document_id)
    messages.success(request, f"Deleted block {full.document.block_type.slug}/{full.document.name}.")
    return redirect("dashboard:blocks")

"""Automations: create, read, update, pause / resume, delete, filter and count, and the ones a resource
owns or is related to (`prefect deploy` replaces a deployment's trigger automations on every deploy).

They are stored and served; this server does not evaluate triggers or run actions.
"""

from typing import Literal
from uuid import UUID

from django.http import HttpResponse
from ninja import Router
from pydantic import BaseModel, ConfigDict, ValidationError as PydanticValidationError

from runs.domain import automations as domain

from .base import json_response, no_content
from .common import InputSchema, Paging

router = Router(tags=["Automations"])

AutomationSort = Literal[tuple(domain.AUTOMATION_SORTS)]


class AutomationPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    enabled: bool = True


class AutomationFilterBody(Paging):
    automations: domain.AutomationFilter | None = None
    sort: AutomationSort | None = None


class AutomationCountBody(InputSchema):
    automations: domain.AutomationFilter | None = None


def one(automation) -> HttpResponse:
    return json_response(domain.automation_json(automation))


def many(automations) -> HttpResponse:
    return json_response([domain.automation_json(automation) for automation in automations])


@router.post("/automations/", response={201: dict})
def create_automation(request, body: domain.AutomationCreateSpec):
    return json_response(domain.automation_json(domain.create_automation(spec=body)), status=201)


@router.post("/automations/filter", response=list[dict])
def read_automations(request, body: AutomationFilterBody | None = None):
    body = body or AutomationFilterBody()
    return many(domain.read_automations(automations=body.automations, sort=body.sort or "NAME_ASC",
                                        window=body.window()))


@router.post("/automations/count", response=int)
def count_automations(request, body: AutomationCountBody | None = None):
    return domain.count_automations(automations=(body or AutomationCountBody()).automations)


@router.get("/automations/related-to/{resource_id}", response=list[dict])
def read_automations_related_to(request, resource_id: str):
    return many(domain.read_automations_related_to(resource_id=resource_id))


@router.delete("/automations/owned-by/{resource_id}")
def delete_automations_owned_by(request, resource_id: str):
    domain.delete_automations_owned_by(resource_id=resource_id)
    return HttpResponse(status=202)


# The body is the template itself, one JSON string (ninja cannot declare a bare string body).
TEMPLATE_BODY = {"requestBody": {"content": {"application/json": {"schema": {"type": "string", "default": ""}}}}}


@router.post("/automations/templates/validate", response={204: None, 422: dict}, openapi_extra=TEMPLATE_BODY)
def validate_automation_template(request):
    """The older path of /templates/validate, kept by the reference for the UI."""
    return validate_template(request)


@router.get("/automations/{id}", response=dict)
def read_automation(request, id: UUID):
    return one(domain.read_automation(automation_id=id))


@router.put("/automations/{id}", response={204: None})
def update_automation(request, id: UUID, body: domain.AutomationSpec):
    domain.update_automation(automation_id=id, spec=body)
    return no_content()


@router.patch("/automations/{id}", response={204: None})
def patch_automation(request, id: UUID, body: AutomationPatch):
    try:
        domain.set_automation_enabled(automation_id=id, enabled=body.enabled)
    except PydanticValidationError as exc:
        # Enabling would make the stored automation invalid (a run-deployment loop).
        return json_response({"detail": exc.errors(include_url=False, include_context=False)}, status=422)
    return no_content()


@router.delete("/automations/{id}", response={204: None})
def delete_automation(request, id: UUID):
    domain.delete_automation(automation_id=id)
    return no_content()


@router.post("/templates/validate", response={204: None, 422: dict}, openapi_extra=TEMPLATE_BODY)
def validate_template(request):
    """Check a Jinja template an action would render (the body is the template, a JSON string)."""
    template = domain.template_from_body(request.body)
    problem = domain.template_problem(template)
    if problem is None:
        return no_content()
    return json_response({"error": {"line": problem.line, "message": problem.message, "source": template}},
                         status=422)

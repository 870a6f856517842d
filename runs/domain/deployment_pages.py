"""What the dashboard's deployment pages show, and the run form built from a parameter schema."""

from __future__ import annotations

import json

from django.db.models import Q
from django.utils import timezone

from runs.models import Deployment, FlowRun, StateType

from . import deployments
from .errors import InvalidInput
from .schedules import describe_schedule

UPCOMING_LIMIT = 10
PAST_LIMIT = 20


def deployments_overview(*, search: str = "") -> list[dict]:
    queryset = Deployment.objects.select_related("flow", "work_queue__work_pool").prefetch_related("schedules")
    if search:
        queryset = queryset.filter(Q(name__icontains=search) | Q(flow__name__icontains=search))
    return [
        {
            "deployment": deployment,
            "schedules": [describe_schedule(s.schedule) for s in deployment.schedules.all() if s.active],
            "status": "PAUSED" if deployment.paused else deployment.status,
        }
        for deployment in queryset.order_by("flow__name", "name")[:500]
    ]


def deployment_overview(*, deployment_id) -> dict:
    deployment = deployments.read_deployment(deployment_id=deployment_id)
    runs = FlowRun.objects.select_related("flow").filter(deployment_id=deployment.id)
    return {
        "deployment": deployment,
        "status": "PAUSED" if deployment.paused else deployment.status,
        "schedules": [
            {"schedule": schedule, "description": describe_schedule(schedule.schedule)}
            for schedule in deployment.schedules.all()
        ],
        "upcoming": list(
            runs.filter(state_type=StateType.SCHEDULED).order_by("next_scheduled_start_time", "id")[:UPCOMING_LIMIT]
        ),
        "past": list(runs.exclude(state_type=StateType.SCHEDULED).order_by("-expected_start_time", "-id")[:PAST_LIMIT]),
        "fields": parameter_fields(deployment),
        "work_pool_name": deployment.work_queue.work_pool.name if deployment.work_queue else None,
    }


def parameter_fields(deployment: Deployment, submitted: dict | None = None) -> list[dict]:
    """One form field per parameter of the schema, filled with the deployment's value or the
    schema default (or what was just submitted)."""
    schema = deployment.parameter_openapi_schema or {}
    properties = schema.get("properties") or {}
    required = set(schema.get("required") or [])
    ordered = sorted(properties.items(), key=lambda item: (item[1].get("position", 1_000_000), item[0]))
    fields = []
    for name, spec in ordered:
        widget = _widget(spec)
        if submitted is not None and name in submitted:
            value = submitted[name]
        elif name in (deployment.parameters or {}):
            value = deployment.parameters[name]
        else:
            value = spec.get("default", "")
        if widget == "json" and not isinstance(value, str):
            value = json.dumps(value, indent=2)
        fields.append({
            "name": name, "title": spec.get("title") or name, "description": spec.get("description"),
            "widget": widget, "value": value, "required": name in required, "options": spec.get("enum") or [],
            "checked": value is True or value in ("on", "true"),
        })
    return fields


def _widget(spec: dict) -> str:
    if spec.get("enum"):
        return "select"
    kind = spec.get("type")
    if kind in ("integer", "number"):
        return "number"
    if kind == "boolean":
        return "checkbox"
    if kind == "string" and not spec.get("format"):
        return "text"
    return "json"


def parse_parameters(deployment: Deployment, form) -> dict:
    """Typed parameter values from a submitted run form; InvalidInput names the field at fault."""
    schema = deployment.parameter_openapi_schema or {}
    parameters = {}
    for name, spec in (schema.get("properties") or {}).items():
        widget = _widget(spec)
        if widget == "checkbox":
            parameters[name] = name in form
            continue
        raw = form.get(name, "")
        if raw == "" and widget != "text":
            continue  # left empty: the flow's default applies
        try:
            if widget == "number":
                parameters[name] = int(raw) if spec.get("type") == "integer" else float(raw)
            elif widget == "json":
                parameters[name] = json.loads(raw)
            else:
                parameters[name] = raw
        except ValueError:
            kind = spec.get("type") or "JSON"
            raise InvalidInput(f"Parameter {name!r}: {raw!r} is not a valid {kind} value.") from None
    return parameters


def start_run(*, deployment_id, form) -> FlowRun:
    deployment = deployments.read_deployment(deployment_id=deployment_id)
    parameters = parse_parameters(deployment, form)
    run, _ = deployments.create_flow_run_from_deployment(
        deployment_id=deployment.id, parameters=parameters, state=deployments.scheduled_state(timezone.now()),
        created_by={"type": "USER", "display_value": "dashboard"},
    )
    return run

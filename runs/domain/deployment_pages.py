"""What the dashboard's deployment pages show, and the run form built from a parameter schema
(the schema <-> form mapping itself is runs/domain/schema_forms.py)."""

from __future__ import annotations

from django.db.models import Q
from django.utils import timezone

from runs.models import Deployment, FlowRun, StateType

from . import deployments
from .errors import InvalidInput
from .schedules import describe_schedule
from .schema_forms import parse_form, schema_fields

UPCOMING_LIMIT = 10
PAST_LIMIT = 20


def _deployments_matching(search: str):
    queryset = Deployment.objects.all()
    if search:
        queryset = queryset.filter(Q(name__icontains=search) | Q(flow__name__icontains=search))
    return queryset


def deployments_overview(*, search: str = "", window: slice = slice(0, 50)) -> list[dict]:
    """One page of the list (rendering every row of a big list costs more than its queries)."""
    queryset = _deployments_matching(search).select_related("flow", "work_queue__work_pool").prefetch_related("schedules")
    return [
        {
            "deployment": deployment,
            "schedules": [describe_schedule(s.schedule) for s in deployment.schedules.all() if s.active],
            "status": "PAUSED" if deployment.paused else deployment.status,
        }
        for deployment in queryset.order_by("flow__name", "name", "id")[window]
    ]


def count_deployments(*, search: str = "") -> int:
    return _deployments_matching(search).count()


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


def parameter_fields(deployment: Deployment) -> list[dict]:
    """The run form: one field per parameter, filled with the deployment's value or the default."""
    return schema_fields(deployment.parameter_openapi_schema, values=deployment.parameters or {})


def parse_parameters(deployment: Deployment, form) -> dict:
    """Typed parameter values from a submitted run form; InvalidInput names the field at fault."""
    parameters, errors = parse_form(deployment.parameter_openapi_schema, form)
    if errors:
        name, message = next(iter(errors.items()))
        raise InvalidInput(f"Parameter {name!r}: {message}")
    return parameters


def start_run(*, deployment_id, form) -> FlowRun:
    deployment = deployments.read_deployment(deployment_id=deployment_id)
    parameters = parse_parameters(deployment, form)
    run, _ = deployments.create_flow_run_from_deployment(
        deployment_id=deployment.id, parameters=parameters, state=deployments.scheduled_state(timezone.now()),
        created_by={"type": "USER", "display_value": "dashboard"},
    )
    return run

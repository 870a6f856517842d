"""Deployments and their schedules: create (upsert by flow and name), read, filter, update, pause,
delete, start runs from them, hand scheduled runs to the processes serving them, and keep
auto-scheduled runs created ahead of time.
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timedelta

import jsonschema
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from runs.models import (
    ConcurrencyLimit, Deployment, DeploymentSchedule, Flow, FlowRun, FlowRunState, ReadyStatus, StateType, WorkQueue,
)
from notifications.deliveries import queue_notifications_for_states
from runs.orchestration.rules.deployment_concurrency import deployment_limit_name

from . import concurrency, filters
from . import flow_runs as flow_run_domain
from .errors import Conflict, DomainError, InvalidInput, NotFound
from .names import random_run_name
from .schedules import dates_to_schedule, normalize_schedule
from .work_pools import resolve_work_queue

DEPLOYMENT_SORTS = {
    "CREATED_DESC": ["-created", "id"],
    "UPDATED_DESC": ["-updated", "id"],
    "NAME_ASC": ["name", "id"],
    "NAME_DESC": ["-name", "id"],
}

# How far ahead the scheduler keeps runs (the reference server's defaults): at least 3 runs and
# an hour's worth, at most 100 runs and 100 days' worth per schedule.
SCHEDULER_MIN_RUNS = 3
SCHEDULER_MAX_RUNS = 100
SCHEDULER_MIN_TIME = timedelta(hours=1)
SCHEDULER_MAX_TIME = timedelta(days=100)

UPDATABLE_FIELDS = {
    "version", "version_info", "description", "paused", "concurrency_limit", "concurrency_options",
    "parameters", "parameter_openapi_schema", "tags", "labels", "path", "entrypoint", "pull_steps",
    "job_variables", "storage_document_id", "infrastructure_document_id", "enforce_parameter_schema",
    "created_by", "updated_by",
}


def _with_relations():
    return Deployment.objects.select_related("flow", "work_queue__work_pool").prefetch_related("schedules")


# Create, read, filter ----------------------------------------------------------------------------


def create_deployment(
    *,
    flow_id,
    name: str,
    schedules: list[dict] | None = None,
    work_pool_name: str | None = None,
    work_queue_name: str | None = None,
    **fields,
) -> tuple[Deployment, bool]:
    """Create the flow's deployment of this name, or update it if it exists. Returns (deployment, created).

    Schedules given replace the current ones; when they change, the future runs the old ones
    scheduled are removed and new ones are scheduled.
    """
    if not Flow.objects.filter(id=flow_id).exists():
        raise NotFound("Flow not found")
    unknown = set(fields) - UPDATABLE_FIELDS
    if unknown:
        raise InvalidInput(f"Unknown deployment fields: {', '.join(sorted(unknown))}")
    schedule_specs = [_schedule_spec(raw) for raw in schedules] if schedules is not None else None
    queue = resolve_work_queue(work_pool_name=work_pool_name, work_queue_name=work_queue_name)
    placement = {"work_queue": queue, "work_queue_name": queue.name if queue else work_queue_name}
    # Creating (or re-creating, as `flow.serve()` does on every start) sets every field: a null is
    # the field's default, so a limit or schedule removed from the code goes away here too.
    fields = {**CREATE_DEFAULTS, **_validated_fields(fields)}
    try:
        with transaction.atomic():
            deployment = Deployment.objects.select_for_update().filter(flow_id=flow_id, name=name).first()
            created = deployment is None
            if created:
                deployment = Deployment.objects.create(flow_id=flow_id, name=name, **placement, **fields)
            else:
                for key, value in {**placement, **fields}.items():
                    setattr(deployment, key, value)
                deployment.save()
            if schedule_specs is not None:
                _replace_schedules(deployment, schedule_specs)
            _sync_concurrency_limit(deployment)
            if deployment.paused:
                delete_future_auto_scheduled_runs(deployment_id=deployment.id)
    except IntegrityError:
        raise Conflict(f'Deployment "{name}" could not be saved: it conflicts with existing data.') from None
    schedule_runs(deployment_ids=[deployment.id])
    return read_deployment(deployment_id=deployment.id), created


CREATE_DEFAULTS = {
    "paused": False, "parameters": {}, "job_variables": {}, "tags": [], "labels": {},
    "enforce_parameter_schema": True, "concurrency_limit": None, "concurrency_options": None,
}


def _validated_fields(fields: dict) -> dict:
    fields = {key: value for key, value in fields.items() if value is not None or key in {"description", "version"}}
    for key in ("parameters", "job_variables", "labels"):
        if key in fields and not isinstance(fields[key], dict):
            raise InvalidInput(f"{key} must be an object.")
    if "tags" in fields and not isinstance(fields["tags"], list):
        raise InvalidInput("tags must be a list.")
    limit = fields.get("concurrency_limit")
    if limit is not None and limit <= 0:
        raise InvalidInput("concurrency_limit must be greater than 0.")
    options = fields.get("concurrency_options")
    if options is not None:
        strategy = (options or {}).get("collision_strategy")
        if strategy not in {"ENQUEUE", "CANCEL_NEW"}:
            raise InvalidInput("concurrency_options.collision_strategy must be ENQUEUE or CANCEL_NEW.")
    return fields


def _sync_concurrency_limit(deployment: Deployment) -> None:
    """Keep the deployment's global concurrency limit (`deployment:<id>`) in step with its
    concurrency_limit: created, resized, or deleted with it."""
    name = deployment_limit_name(deployment.id)
    if deployment.concurrency_limit is None:
        if deployment.concurrency_limit_id:
            _delete_limit(name)
            Deployment.objects.filter(id=deployment.id).update(concurrency_limit_id=None)
            deployment.concurrency_limit_id = None
        return
    try:
        limit = concurrency.update_concurrency_limit(id_or_name=name, limit=deployment.concurrency_limit)
    except NotFound:
        limit = concurrency.create_concurrency_limit(name=name, limit=deployment.concurrency_limit)
    if deployment.concurrency_limit_id != limit.id:
        Deployment.objects.filter(id=deployment.id).update(concurrency_limit_id=limit.id)
        deployment.concurrency_limit_id = limit.id


def _delete_limit(name: str) -> None:
    try:
        concurrency.delete_concurrency_limit(id_or_name=name)  # drops its leases too
    except NotFound:
        pass


def attach_concurrency_limits(deployments: list[Deployment]) -> list[Deployment]:
    """Set `global_limit` (the ConcurrencyLimit, with current slots, or None) on each; one query."""
    ids = [deployment.concurrency_limit_id for deployment in deployments if deployment.concurrency_limit_id]
    limits = {}
    if ids:
        found = concurrency.with_current_slots(list(ConcurrencyLimit.objects.filter(id__in=ids)))
        limits = {limit.id: limit for limit in found}
    for deployment in deployments:
        deployment.global_limit = limits.get(deployment.concurrency_limit_id)
    return deployments


def read_deployment(*, deployment_id) -> Deployment:
    deployment = _with_relations().filter(id=deployment_id).first()
    if deployment is None:
        raise NotFound("Deployment not found")
    return attach_concurrency_limits([deployment])[0]


def read_deployment_by_name(*, flow_name: str, deployment_name: str) -> Deployment:
    deployment = _with_relations().filter(flow__name=flow_name, name=deployment_name).first()
    if deployment is None:
        raise NotFound("Deployment not found")
    return attach_concurrency_limits([deployment])[0]


def deployments_q(*, flows=None, flow_runs=None, task_runs=None, deployments=None) -> Q:
    clauses = [deployments.to_q() if deployments else filters.ALL]
    if flows:
        clauses.append(flows.to_q("flow__"))
    run_q = filters.flow_run_q(flow_runs=flow_runs, task_runs=task_runs)
    if run_q != filters.ALL:
        clauses.append(Q(id__in=FlowRun.objects.filter(run_q).exclude(deployment_id=None).values("deployment_id")))
    return filters.combine(clauses)


def read_deployments(*, sort: str = "NAME_ASC", window: slice | None = None, **filter_kwargs) -> list[Deployment]:
    queryset = _with_relations().filter(deployments_q(**filter_kwargs)).order_by(*DEPLOYMENT_SORTS[sort])
    return attach_concurrency_limits(list(queryset[window] if window else queryset))


def count_deployments(**filter_kwargs) -> int:
    return Deployment.objects.filter(deployments_q(**filter_kwargs)).count()


# Update, pause, delete ---------------------------------------------------------------------------


def update_deployment(
    *, deployment_id, schedules: list[dict] | None = None, work_pool_name=None, work_queue_name=None, **changes
) -> None:
    """Change the given fields; schedules given are matched by slug when every schedule has one,
    else they replace the current ones."""
    unknown = set(changes) - UPDATABLE_FIELDS
    if unknown:
        raise InvalidInput(f"Cannot update {', '.join(sorted(unknown))}")
    # A null concurrency_limit in a PATCH removes the limit; other nulls mean "leave as is".
    explicit_nulls = {key for key, value in changes.items() if value is None}
    changes = _validated_fields(changes)
    if "concurrency_limit" in explicit_nulls:
        changes["concurrency_limit"] = None
    schedule_specs = [_schedule_spec(raw, partial=True) for raw in schedules] if schedules is not None else None
    queue = None
    if work_pool_name:
        queue = resolve_work_queue(work_pool_name=work_pool_name, work_queue_name=work_queue_name)
    with transaction.atomic():
        deployment = Deployment.objects.select_for_update().filter(id=deployment_id).first()
        if deployment is None:
            raise NotFound("Deployment not found")
        was_paused = deployment.paused
        for key, value in changes.items():
            setattr(deployment, key, value)
        if queue is not None:
            deployment.work_queue, deployment.work_queue_name = queue, queue.name
        elif work_queue_name and not deployment.work_queue_id:
            deployment.work_queue_name = work_queue_name
        if deployment.paused and not was_paused:
            deployment.status = ReadyStatus.NOT_READY
        deployment.save()
        if "concurrency_limit" in changes or explicit_nulls & {"concurrency_limit"}:
            _sync_concurrency_limit(deployment)
        if schedule_specs is not None:
            _update_schedules(deployment, schedule_specs)
        if deployment.paused and not was_paused:
            delete_future_auto_scheduled_runs(deployment_id=deployment.id)
        parameters_changed = "parameters" in changes
        if parameters_changed:
            delete_future_auto_scheduled_runs(deployment_id=deployment.id)
    if not deployment.paused:
        schedule_runs(deployment_ids=[deployment.id])


def set_deployment_paused(*, deployment_id, paused: bool) -> None:
    update_deployment(deployment_id=deployment_id, paused=paused)


def delete_deployment(*, deployment_id) -> None:
    with transaction.atomic():
        delete_future_auto_scheduled_runs(deployment_id=deployment_id)
        _delete_limit(deployment_limit_name(deployment_id))
        deleted, _ = Deployment.objects.filter(id=deployment_id).delete()
    if not deleted:
        raise NotFound("Deployment not found")


def delete_deployments(**filter_kwargs) -> list:
    ids = list(Deployment.objects.filter(deployments_q(**filter_kwargs)).values_list("id", flat=True)[:200])
    with transaction.atomic():
        for deployment_id in ids:
            delete_future_auto_scheduled_runs(deployment_id=deployment_id)
        Deployment.objects.filter(id__in=ids).delete()
    return ids


# Schedules ---------------------------------------------------------------------------------------


def _schedule_spec(raw, *, partial: bool = False) -> dict:
    """A schedule as given in a request, validated: the fields of DeploymentSchedule plus `replaces`."""
    if not isinstance(raw, dict):
        raise InvalidInput("Each schedule must be an object.")
    spec = {}
    if raw.get("schedule") is not None:
        spec["schedule"] = normalize_schedule(raw["schedule"])
    elif not partial:
        raise InvalidInput("Each schedule needs a `schedule` (interval, cron or rrule).")
    for key in ("active", "max_scheduled_runs", "parameters", "slug", "replaces"):
        if raw.get(key) is not None:
            spec[key] = raw[key]
    if spec.get("max_scheduled_runs") is not None and int(spec["max_scheduled_runs"]) <= 0:
        raise InvalidInput("max_scheduled_runs must be greater than 0.")
    if "parameters" in spec and not isinstance(spec["parameters"], dict):
        raise InvalidInput("Schedule parameters must be an object.")
    return spec


SCHEDULE_FIELDS = ("schedule", "active", "max_scheduled_runs", "parameters", "slug")
SCHEDULE_DEFAULTS = {"active": True, "max_scheduled_runs": None, "parameters": {}, "slug": None}


def _comparable(schedule) -> str:
    """A canonical form of a schedule (JSON with sorted keys: PostgreSQL reorders stored objects)."""
    if isinstance(schedule, DeploymentSchedule):
        values = {key: getattr(schedule, key) for key in SCHEDULE_FIELDS}
    else:
        values = {key: {**SCHEDULE_DEFAULTS, **schedule}.get(key) for key in SCHEDULE_FIELDS}
    return json.dumps(values, sort_keys=True, default=str)


def _replace_schedules(deployment: Deployment, specs: list[dict]) -> None:
    """Make the deployment's schedules exactly `specs`; unchanged schedules keep their runs."""
    current = list(DeploymentSchedule.objects.filter(deployment=deployment))
    if sorted(map(_comparable, current)) == sorted(map(_comparable, specs)):
        return
    DeploymentSchedule.objects.filter(deployment=deployment).delete()
    _create_schedules(deployment, specs)
    delete_future_auto_scheduled_runs(deployment_id=deployment.id)


def _update_schedules(deployment: Deployment, specs: list[dict]) -> None:
    """PATCH semantics: when every schedule (given and stored) has a slug, update matching slugs
    (or the slug a schedule `replaces`) and add the others; otherwise replace them all."""
    current = list(DeploymentSchedule.objects.filter(deployment=deployment))
    all_given_slugged = all(spec.get("slug") for spec in specs)
    all_current_slugged = bool(current) and all(schedule.slug for schedule in current)
    if all_current_slugged and not all_given_slugged:
        raise InvalidInput(
            "Please provide a slug for each schedule in your request to ensure schedules are updated correctly."
        )
    if not (all_current_slugged and all_given_slugged):
        if any("schedule" not in spec for spec in specs):
            raise InvalidInput("Unable to create new deployment schedules without a schedule configuration.")
        _replace_schedules(deployment, specs)
        return
    by_slug = {schedule.slug: schedule for schedule in current}
    changed = False
    for spec in specs:
        target = by_slug.get(spec.get("replaces") or spec["slug"])
        if target is None:
            if "schedule" not in spec:
                raise InvalidInput("Unable to create new deployment schedules without a schedule configuration.")
            _create_schedules(deployment, [spec])
            changed = True
            continue
        for key in SCHEDULE_FIELDS:
            if key in spec and getattr(target, key) != spec[key]:
                setattr(target, key, spec[key])
                changed = True
        target.save()
    if changed:
        delete_future_auto_scheduled_runs(deployment_id=deployment.id)


def _create_schedules(deployment: Deployment, specs: list[dict]) -> list[DeploymentSchedule]:
    rows = [
        DeploymentSchedule(deployment=deployment, **{key: spec[key] for key in SCHEDULE_FIELDS if key in spec})
        for spec in specs
    ]
    slugs = [row.slug for row in rows if row.slug]
    if len(slugs) != len(set(slugs)):
        raise InvalidInput("Schedule slugs must be unique within a deployment.")
    for row in rows:
        row.save(force_insert=True)  # one by one: created timestamps keep the given order
    return rows


def read_deployment_schedules(*, deployment_id) -> list[DeploymentSchedule]:
    if not Deployment.objects.filter(id=deployment_id).exists():
        raise NotFound("Deployment not found")
    return list(DeploymentSchedule.objects.filter(deployment_id=deployment_id))


def create_deployment_schedules(*, deployment_id, schedules: list[dict]) -> list[DeploymentSchedule]:
    specs = [_schedule_spec(raw) for raw in schedules]
    try:
        with transaction.atomic():
            deployment = Deployment.objects.select_for_update().filter(id=deployment_id).first()
            if deployment is None:
                raise NotFound("Deployment not found")
            taken = set(deployment.schedules.exclude(slug=None).values_list("slug", flat=True))
            if any(spec.get("slug") in taken for spec in specs):
                raise Conflict("A schedule with this slug already exists for this deployment.")
            created = _create_schedules(deployment, specs)
    except IntegrityError:
        raise Conflict("A schedule with this slug already exists for this deployment.") from None
    schedule_runs(deployment_ids=[deployment_id])
    return created


def update_deployment_schedule(*, deployment_id, schedule_id, **changes) -> None:
    spec = _schedule_spec(changes, partial=True)
    spec.pop("replaces", None)
    with transaction.atomic():
        schedule = DeploymentSchedule.objects.select_for_update().filter(
            id=schedule_id, deployment_id=deployment_id
        ).first()
        if schedule is None:
            raise NotFound("Deployment schedule not found")
        for key, value in spec.items():
            setattr(schedule, key, value)
        try:
            with transaction.atomic():
                schedule.save()
        except IntegrityError:
            raise Conflict("A schedule with this slug already exists for this deployment.") from None
        delete_future_auto_scheduled_runs(deployment_id=deployment_id)
    schedule_runs(deployment_ids=[deployment_id])


def delete_deployment_schedule(*, deployment_id, schedule_id) -> None:
    with transaction.atomic():
        deleted, _ = DeploymentSchedule.objects.filter(id=schedule_id, deployment_id=deployment_id).delete()
        if not deleted:
            raise NotFound("Deployment schedule not found")
        delete_future_auto_scheduled_runs(deployment_id=deployment_id)
    schedule_runs(deployment_ids=[deployment_id])


# Runs of a deployment ----------------------------------------------------------------------------


def check_parameters(deployment: Deployment, parameters: dict) -> None:
    """Validate run parameters against the deployment's parameter schema (JSON Schema)."""
    schema = deployment.parameter_openapi_schema
    if not isinstance(schema, dict):
        raise Conflict(
            "Cannot create a flow run: parameter schema enforcement is on and the deployment has no valid "
            "parameter schema."
        )
    try:
        jsonschema.validate(parameters, schema)
    except jsonschema.ValidationError as exc:
        where = ".".join(map(str, exc.absolute_path)) or "parameters"
        raise Conflict(f"Error creating flow run: Validation failed for field {where!r}: {exc.message}") from None
    except jsonschema.SchemaError as exc:
        raise InvalidInput(f"Invalid parameter schema: {exc.message}") from None


def create_flow_run_from_deployment(*, deployment_id, **fields) -> tuple[FlowRun, bool]:
    """Start a run of the deployment: its parameters overlaid with the given ones, its tags plus
    the given ones, in its work queue (or another queue of its pool). Scheduled now unless a
    state is given. `fields` are those of _create_run_of."""
    return _create_run_of(read_deployment(deployment_id=deployment_id), **fields)


BULK_CREATE_LIMIT = 100


def create_flow_runs_from_deployment(
    *, deployment_id, runs: list[dict], client_version: str | None = None
) -> list[dict]:
    """Start several runs of the deployment (each as create_flow_run_from_deployment would), in one
    transaction. A run that cannot be created is reported and does not stop the others:
    one result per run, in order, `{"flow_run_id", "status": "CREATED"}` or `{"status": "FAILED", "error"}`."""
    if len(runs) > BULK_CREATE_LIMIT:
        raise InvalidInput(f"Cannot create more than {BULK_CREATE_LIMIT} flow runs at once.")
    results = []
    with transaction.atomic():
        deployment = read_deployment(deployment_id=deployment_id)
        for fields in runs:
            try:
                with transaction.atomic():  # a savepoint: a failed run leaves nothing behind
                    run, _ = _create_run_of(deployment, client_version=client_version, **fields)
            except DomainError as exc:
                results.append({"flow_run_id": None, "status": "FAILED", "error": str(exc)})
            else:
                results.append({"flow_run_id": run.id, "status": "CREATED", "error": None})
    return results


def _create_run_of(
    deployment: Deployment,
    *,
    parameters: dict | None = None,
    state: dict | None = None,
    tags: list[str] | None = None,
    labels: dict | None = None,
    work_queue_name: str | None = None,
    enforce_parameter_schema: bool | None = None,
    infrastructure_document_id=None,
    client_version: str | None = None,
    **fields,
) -> tuple[FlowRun, bool]:
    merged_parameters = {**(deployment.parameters or {}), **(parameters or {})}
    enforce = deployment.enforce_parameter_schema if enforce_parameter_schema is None else enforce_parameter_schema
    if enforce:
        check_parameters(deployment, merged_parameters)
    queue_name, queue_id = deployment.work_queue_name, deployment.work_queue_id
    if work_queue_name:
        if deployment.work_queue is None:
            raise InvalidInput(
                f"Cannot create a flow run in work queue {work_queue_name}: the deployment has no work pool."
            )
        queue = resolve_work_queue(
            work_pool_name=deployment.work_queue.work_pool.name, work_queue_name=work_queue_name
        )
        queue_name, queue_id = queue.name, queue.id
    return flow_run_domain.create_flow_run(
        flow_id=deployment.flow_id,
        state=state or scheduled_state(timezone.now()),
        client_version=client_version,
        deployment_id=deployment.id,
        deployment_version=deployment.version,
        parameters=merged_parameters,
        tags=sorted(set(deployment.tags or []) | set(tags or [])),
        labels={**(deployment.labels or {}), **(labels or {})},
        work_queue_name=queue_name,
        work_queue_id=queue_id,
        infrastructure_document_id=infrastructure_document_id or deployment.infrastructure_document_id,
        **fields,
    )


def read_work_queues_for_deployment(*, deployment_id) -> list[WorkQueue]:
    """The work queues whose (deprecated) filter lets them pick up the deployment's runs: the
    queue's filter tags are all among the deployment's tags, and its filter deployment ids, if
    any, include the deployment. A queue without a filter matches."""
    deployment = Deployment.objects.filter(id=deployment_id).only("id", "tags").first()
    if deployment is None:
        raise NotFound("Deployment not found")
    tags, wanted_id = set(deployment.tags or []), str(deployment.id)

    def picks_up(queue: WorkQueue) -> bool:
        queue_filter = queue.filter if isinstance(queue.filter, dict) else {}
        queue_tags = queue_filter.get("tags") or []
        deployment_ids = queue_filter.get("deployment_ids") or []
        return set(map(str, queue_tags)) <= tags and (not deployment_ids or wanted_id in map(str, deployment_ids))

    queues = WorkQueue.objects.select_related("work_pool").order_by("work_pool__name", "priority", "name")
    return [queue for queue in queues if picks_up(queue)]


def scheduled_state(when: datetime) -> dict:
    return {
        "type": StateType.SCHEDULED, "name": "Scheduled", "message": None, "data": None,
        "state_details": {"scheduled_time": when.isoformat()},
    }


def read_scheduled_flow_runs(*, deployment_ids: list, scheduled_before: datetime | None, limit: int) -> list[FlowRun]:
    """Scheduled runs (Late and AwaitingRetry included) of these deployments that are due, soonest
    first; a served process polls this. Polling marks the deployments as ready."""
    scheduled_before = scheduled_before or timezone.now()
    runs = list(
        FlowRun.objects.select_related("state")
        .filter(
            deployment_id__in=deployment_ids,
            state_type=StateType.SCHEDULED,
            next_scheduled_start_time__lte=scheduled_before,
        )
        .order_by("next_scheduled_start_time", "id")[:limit]
    )
    Deployment.objects.filter(id__in=deployment_ids).update(
        last_polled=timezone.now(), status=ReadyStatus.READY, updated=timezone.now()
    )
    return runs


def delete_future_auto_scheduled_runs(*, deployment_id, schedule_ids=None) -> int:
    """Remove the runs the scheduler created ahead of time that have not started (nor been retried,
    nor marked late); called when the schedules that made them change, pause or go away."""
    queryset = FlowRun.objects.filter(
        deployment_id=deployment_id,
        auto_scheduled=True,
        state_type=StateType.SCHEDULED,
        state_name="Scheduled",
        next_scheduled_start_time__gte=timezone.now(),
    )
    deleted, _ = queryset.delete()
    return deleted


# The scheduler -----------------------------------------------------------------------------------


def schedule_runs(*, deployment_ids: list | None = None, now: datetime | None = None) -> int:
    """Create the auto-scheduled runs the active schedules of these (unpaused) deployments should
    have by now; all deployments when none are named. Returns how many runs were created.

    Safe to run concurrently (several scheduler passes, several server instances): each slot's run
    has the idempotency key `scheduled <deployment> <schedule> <instant>`, and the unique
    constraint on (flow, idempotency_key) lets only one insert of a slot through.
    """
    now = now or timezone.now()
    schedules = DeploymentSchedule.objects.select_related("deployment").filter(
        active=True, deployment__paused=False
    )
    if deployment_ids is not None:
        schedules = schedules.filter(deployment_id__in=deployment_ids)
    created = 0
    for schedule in schedules:
        created += _schedule_runs_of(schedule, now)
    return created


def _schedule_runs_of(schedule: DeploymentSchedule, now: datetime) -> int:
    deployment = schedule.deployment
    max_runs = schedule.max_scheduled_runs or SCHEDULER_MAX_RUNS
    dates = dates_to_schedule(
        schedule.schedule, now=now, min_runs=min(SCHEDULER_MIN_RUNS, max_runs), max_runs=max_runs,
        min_time=SCHEDULER_MIN_TIME, max_time=SCHEDULER_MAX_TIME,
    )
    if not dates:
        return 0
    keys = {f"scheduled {deployment.id} {schedule.id} {moment.isoformat()}": moment for moment in dates}
    existing = set(
        FlowRun.objects.filter(flow_id=deployment.flow_id, idempotency_key__in=list(keys)).values_list(
            "idempotency_key", flat=True
        )
    )
    missing = [(key, moment) for key, moment in keys.items() if key not in existing]
    if not missing:
        return 0
    return insert_scheduled_runs(schedule, missing, now)


def insert_scheduled_runs(schedule: DeploymentSchedule, slots: list[tuple[str, datetime]], now: datetime) -> int:
    """Insert one Scheduled run per (idempotency key, instant); slots already taken are skipped."""
    deployment = schedule.deployment
    parameters = {**(deployment.parameters or {}), **(schedule.parameters or {})}
    runs, states = [], []
    for key, moment in slots:
        run_id, state_id = uuid.uuid4(), uuid.uuid4()
        details = {"scheduled_time": moment.isoformat().replace("+00:00", "Z"), "flow_run_id": str(run_id)}
        runs.append(FlowRun(
            id=run_id, flow_id=deployment.flow_id, name=random_run_name(), deployment_id=deployment.id,
            deployment_version=deployment.version, work_queue_name=deployment.work_queue_name,
            work_queue_id=deployment.work_queue_id, parameters=parameters, idempotency_key=key,
            tags=list(deployment.tags or []), labels=dict(deployment.labels or {}), auto_scheduled=True,
            empirical_policy=dict(flow_run_domain.DEFAULT_FLOW_RUN_POLICY),
            infrastructure_document_id=deployment.infrastructure_document_id,
            state_id=state_id, state_type=StateType.SCHEDULED, state_name="Scheduled", state_timestamp=now,
            expected_start_time=moment, next_scheduled_start_time=moment,
        ))
        states.append(FlowRunState(
            id=state_id, flow_run_id=run_id, type=StateType.SCHEDULED, name="Scheduled", timestamp=now,
            state_details=details,
        ))
    with transaction.atomic():
        # A concurrent pass may have inserted some of these slots meanwhile: those rows are skipped
        # (ON CONFLICT DO NOTHING), and only the runs that went in get their state.
        FlowRun.objects.bulk_create(runs, ignore_conflicts=True, batch_size=500)
        inserted = set(FlowRun.objects.filter(id__in=[run.id for run in runs]).values_list("id", flat=True))
        new_states = [state for state in states if state.flow_run_id in inserted]
        FlowRunState.objects.bulk_create(new_states, batch_size=500)
        runs_by_id = {run.id: run for run in runs}
        queue_notifications_for_states(
            [(runs_by_id[state.flow_run_id], deployment.flow, state) for state in new_states]
        )
    return len(inserted)

"""The aggregates the Prefect UI asks for under /ui/: per-flow deployment counts and next runs, a light
flow-run history, task-run counts by flow run and by state, and the dashboard's task-run buckets."""

from __future__ import annotations

import copy
import json
from datetime import datetime, timedelta
from datetime import timezone as dt_timezone

import jsonschema
from django.db.models import Count, Min, Q
from django.utils import timezone

from referencing import Registry
from referencing.exceptions import Unresolvable

from runs.models import TERMINAL_STATE_TYPES, Deployment, FlowRun, StateType, TaskRun, Variable

from . import filters
from .errors import InvalidInput, NotFound
from .flow_runs import FLOW_RUN_SORTS
from .runs import estimated_run_time, estimated_start_time_delta

MAX_IDS = 200
MAX_HISTORY = 1000
DASHBOARD_BUCKETS = 20
FAILED_TYPES = (StateType.FAILED, StateType.CRASHED)


def check_ids(ids: list, what: str) -> None:
    if len(ids) > MAX_IDS:
        raise InvalidInput(f"At most {MAX_IDS} {what} per request.")


def count_deployments_by_flow(*, flow_ids: list) -> dict:
    check_ids(flow_ids, "flow ids")
    counts = dict(
        Deployment.objects.filter(flow_id__in=flow_ids).values("flow_id").annotate(n=Count("id")).values_list("flow_id", "n")
    )
    return {flow_id: counts.get(flow_id, 0) for flow_id in flow_ids}


def next_runs_by_flow(*, flow_ids: list) -> dict:
    """Each flow's soonest Scheduled run, or None."""
    check_ids(flow_ids, "flow ids")
    scheduled = FlowRun.objects.filter(flow_id__in=flow_ids, state_type=StateType.SCHEDULED)
    soonest = dict(scheduled.values("flow_id").annotate(at=Min("next_scheduled_start_time")).values_list("flow_id", "at"))
    runs = {}
    for run in scheduled.filter(
        filters.combine([Q(flow_id=flow_id, next_scheduled_start_time=at) for flow_id, at in soonest.items()], "or_")
        if soonest else Q(pk__in=[])
    ).order_by("id"):
        runs.setdefault(run.flow_id, run)
    return {
        flow_id: None if flow_id not in runs else {
            "id": runs[flow_id].id, "flow_id": flow_id, "name": runs[flow_id].name,
            "state_name": runs[flow_id].state_name, "state_type": runs[flow_id].state_type,
            "next_scheduled_start_time": runs[flow_id].next_scheduled_start_time,
        }
        for flow_id in flow_ids
    }


def flow_run_history(*, sort: str, window: slice, **filter_kwargs) -> list[dict]:
    """Just enough of each run for the UI's run-history scatter plot."""
    runs = (
        FlowRun.objects.filter(filters.flow_run_q(**filter_kwargs)).order_by(*FLOW_RUN_SORTS[sort])
        .only("id", "state_type", "start_time", "expected_start_time", "total_run_time", "state_timestamp")[window]
    )
    return [
        {"id": run.id, "state_type": run.state_type, "timestamp": run.start_time or run.expected_start_time,
         "duration": estimated_run_time(run), "lateness": estimated_start_time_delta(run)}
        for run in runs
    ]


def count_task_runs_by_flow_run(*, flow_run_ids: list) -> dict:
    """Task runs per flow run, not counting the task runs that stand for subflows."""
    check_ids(flow_run_ids, "flow run ids")
    counts = dict(
        TaskRun.objects.filter(flow_run_id__in=flow_run_ids, subflow_runs__isnull=True)
        .values("flow_run_id").annotate(n=Count("id")).values_list("flow_run_id", "n")
    )
    return {flow_run_id: counts.get(flow_run_id, 0) for flow_run_id in flow_run_ids}


def count_task_runs_by_state(**filter_kwargs) -> dict:
    counts = dict(
        TaskRun.objects.filter(filters.task_run_q(**filter_kwargs)).values("state_type")
        .annotate(n=Count("id")).values_list("state_type", "n")
    )
    return {state_type.value: counts.get(state_type.value, 0) for state_type in StateType}


def as_utc(moment: datetime) -> datetime:
    """A time without a zone is read as UTC, as the client sends them."""
    return moment.replace(tzinfo=dt_timezone.utc) if moment.tzinfo is None else moment


def dashboard_task_run_counts(*, task_runs: filters.TaskRunFilter, **filter_kwargs) -> list[dict]:
    """Finished task runs in 20 equal buckets of start time between `task_runs.start_time.after_` and
    its `before_` (or now), each split into completed and failed (Failed or Crashed)."""
    if task_runs.start_time is None or task_runs.start_time.after_ is None:
        raise InvalidInput("task_runs.start_time.after_ is required")
    start = as_utc(task_runs.start_time.after_).replace(second=0, microsecond=0)
    end_minute = as_utc(task_runs.start_time.before_ or timezone.now())
    end = end_minute.replace(second=0, microsecond=0) + timedelta(minutes=1) - timedelta(microseconds=1)
    if end <= start:
        raise InvalidInput("task_runs.start_time.before_ must be after its after_.")
    width = (end - start) / DASHBOARD_BUCKETS
    window = task_runs.start_time
    aware_window = window.model_copy(update={"after_": as_utc(window.after_),
                                             "before_": as_utc(window.before_) if window.before_ else None})
    finished = task_runs.model_copy(update={"state": None, "start_time": aware_window})
    queryset = TaskRun.objects.filter(
        filters.task_run_q(task_runs=finished, **filter_kwargs), state_type__in=list(TERMINAL_STATE_TYPES)
    )
    aggregates = {}
    for index in range(DASHBOARD_BUCKETS):
        low = start + width * index
        in_bucket = Q(start_time__gte=low) & (Q(start_time__lt=low + width) if index < DASHBOARD_BUCKETS - 1 else Q())
        aggregates[f"failed_{index}"] = Count("id", filter=in_bucket & Q(state_type__in=FAILED_TYPES))
        aggregates[f"completed_{index}"] = Count("id", filter=in_bucket & ~Q(state_type__in=FAILED_TYPES))
    counts = queryset.aggregate(**aggregates)
    return [{"completed": counts[f"completed_{index}"], "failed": counts[f"failed_{index}"]}
            for index in range(DASHBOARD_BUCKETS)]


def read_task_run_with_flow_run_name(*, task_run_id) -> tuple[TaskRun, str | None]:
    run = TaskRun.objects.select_related("state").filter(id=task_run_id).first()
    if run is None:
        raise NotFound("Task not found")
    name = FlowRun.objects.filter(id=run.flow_run_id).values_list("name", flat=True).first() if run.flow_run_id else None
    return run, name



# /ui/schemas/validate: values a form built from a JSON schema would submit, checked against it ---------


class Placeholder:
    """What a `{"__prefect_kind": ...}` value stands for until the run is created; `error` when it
    cannot become a value (bad JSON, a missing variable)."""

    def __init__(self, error: str | None = None):
        self.error = error


REMOVED = object()  # a kind object without its key: dropped from the values, as the reference does


def hydrate(value, variables: dict, path: tuple, placeholders: dict):
    if isinstance(value, dict) and "__prefect_kind" in value:
        kind = value["__prefect_kind"]
        if kind in (None, "none"):
            if "value" not in value:
                return mark(path, placeholders, "Missing 'value' key in __prefect object")
            return hydrate(value["value"], variables, path, placeholders)
        if kind == "json":
            if "value" not in value:
                return REMOVED
            text = hydrate(value["value"], variables, path, placeholders)
            if isinstance(text, Placeholder):
                return text
            try:
                return json.loads(text) if isinstance(text, (str, bytes)) else mark(path, placeholders, "Invalid JSON")
            except json.JSONDecodeError as exc:  # the stdlib's messages, as the UI shows them
                return mark(path, placeholders, f"Invalid JSON: {exc}")
        if kind == "jinja":
            if "template" not in value:
                return mark(path, placeholders, "Missing 'template' key in __prefect object")
            return mark(path, placeholders, None)  # rendered when the run is created, not here
        if kind == "workspace_variable":
            if "variable_name" not in value:
                return REMOVED
            name = value["variable_name"]
            if isinstance(name, str) and name in variables:
                return variables[name]
            return mark(path, placeholders, f"Variable '{name}' not found in workspace.")
        return value.get("value")  # an unknown kind: its value, as the reference treats it
    if isinstance(value, dict):
        hydrated = {key: hydrate(item, variables, (*path, key), placeholders) for key, item in value.items()}
        return {key: item for key, item in hydrated.items() if item is not REMOVED}
    if isinstance(value, list):
        hydrated = [hydrate(item, variables, (*path, index), placeholders) for index, item in enumerate(value)]
        return [item for item in hydrated if item is not REMOVED]
    return value


def mark(path: tuple, placeholders: dict, error: str | None) -> Placeholder:
    placeholders[path] = error
    return Placeholder(error)


def variable_names_in(value, names: set) -> set:
    if isinstance(value, dict):
        if value.get("__prefect_kind") == "workspace_variable" and isinstance(value.get("variable_name"), str):
            names.add(value["variable_name"])
        for item in value.values():
            variable_names_in(item, names)
    elif isinstance(value, list):
        for item in value:
            variable_names_in(item, names)
    return names


def nullable_optional_properties(schema: dict) -> dict:
    """Schemas from pydantic v1 type optional fields without null; accept null for those, as the
    reference does (properties that are neither required nor defaulted), and tuple `items` lists."""
    schema = copy.deepcopy(schema)

    def fix(properties, required):
        if not isinstance(properties, dict):
            return
        for key, spec in properties.items():
            if not isinstance(spec, dict):
                continue
            if key not in required and "type" in spec and spec["type"] != "null" and "default" not in spec:
                spec["anyOf"] = [{"type": spec.pop("type")}, {"type": "null"}]
            if isinstance(spec.get("items"), list) and not spec.get("prefixItems"):
                spec["prefixItems"] = spec.pop("items")
            if "properties" in spec:
                fix(spec["properties"], spec.get("required") or [])

    fix(schema.get("properties"), schema.get("required") or [])
    for definition in (schema.get("definitions") or {}).values() if isinstance(schema.get("definitions"), dict) else []:
        if isinstance(definition, dict):
            fix(definition.get("properties"), definition.get("required") or [])
    return schema


def error_tree(errors: list[tuple[tuple, str]]) -> dict:
    """Messages nested by property / index, the shape the UI shows next to each field."""
    root: list = []
    for path, message in errors:
        current = root
        if not path:
            current.append(message)
        for depth, part in enumerate(path):
            key = "index" if isinstance(part, int) else "property"
            last = depth == len(path) - 1
            if last:
                current.append({key: part, "errors": [message]})
                break
            entry = next((item for item in current if isinstance(item, dict) and item.get(key) == part), None)
            if entry is None:
                entry = {key: part, "errors": []}
                current.append(entry)
            current = entry["errors"]
    return {"errors": root, "valid": not root}


def validate_schema_values(*, schema: dict, values: dict) -> dict:
    schema = nullable_optional_properties(schema)
    try:
        jsonschema.Draft202012Validator.check_schema(schema)
    except jsonschema.SchemaError as exc:
        raise InvalidInput(f"Invalid schema: {exc.message}") from None
    names = variable_names_in(values, set())
    variables = dict(Variable.objects.filter(name__in=names).values_list("name", "value")) if names else {}
    placeholders: dict = {}
    hydrated = hydrate(values, variables, (), placeholders)
    validator = jsonschema.Draft202012Validator(
        schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER, registry=Registry()
    )
    try:
        found = list(validator.iter_errors(hydrated))
    except RecursionError:
        raise InvalidInput("Invalid schema: Unable to validate schema with circular references.") from None
    except Unresolvable as exc:
        raise InvalidInput(f"Invalid schema: Validation failed. Failure reason: {exc}") from None
    errors = []
    for error in found:
        path = tuple(error.relative_path)
        if path in placeholders:
            continue  # the placeholder's own verdict stands for this field
        if error.validator == "required":
            path = (*path, error.message.partition(" ")[0].strip("'"))
        errors.append((path, error.message))
    errors.extend((path, message) for path, message in placeholders.items() if message)
    return error_tree(errors)

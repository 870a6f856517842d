"""Flow-run inputs and resuming paused runs.

A flow that pauses with `wait_for_input` stores the JSON schema of the input it expects under one
key and names, in its Paused state's `run_input_keyset`, the key where the answer goes. Resuming
checks the given input against that schema before the run moves on, and stores it only if the run
really did resume.
"""

from __future__ import annotations

import json

import jsonschema
import referencing.exceptions
from django.db import IntegrityError, transaction
from django.utils import timezone

from runs.models import FlowRun, FlowRunInput, FlowRunState, StateType
from runs.orchestration.context import OrchestrationResult

from .errors import AlreadyExists, InvalidInput, NotFound
from .flow_runs import set_flow_run_state


def _check_key(key: str) -> None:
    if not key or "/" in key or len(key) > 255:
        raise InvalidInput("An input key must be 1 to 255 characters, without '/'.")


def create_flow_run_input(*, flow_run_id, key: str, value: str, sender: str | None = None) -> FlowRunInput:
    _check_key(key)
    if not FlowRun.objects.filter(id=flow_run_id).exists():
        raise NotFound("Flow run not found")
    try:
        with transaction.atomic():
            return FlowRunInput.objects.create(flow_run_id=flow_run_id, key=key, value=value, sender=sender)
    except IntegrityError:
        raise AlreadyExists("A flow run input with this key already exists.") from None


def filter_flow_run_inputs(*, flow_run_id, prefix: str, limit: int = 1, exclude_keys=()) -> list[FlowRunInput]:
    return list(
        FlowRunInput.objects.filter(flow_run_id=flow_run_id, key__startswith=prefix)
        .exclude(key__in=list(exclude_keys))
        .order_by("created")[:limit]
    )


def read_flow_run_input(*, flow_run_id, key: str) -> FlowRunInput:
    found = FlowRunInput.objects.filter(flow_run_id=flow_run_id, key=key).first()
    if found is None:
        raise NotFound("Flow run input not found")
    return found


def delete_flow_run_input(*, flow_run_id, key: str) -> None:
    deleted, _ = FlowRunInput.objects.filter(flow_run_id=flow_run_id, key=key).delete()
    if not deleted:
        raise NotFound("Flow run input not found")


def resume_flow_run(*, flow_run_id, run_input: dict | None = None, client_version: str | None = None):
    """Resume a paused run: Running again for a pause, Scheduled "Resuming" for a suspended run
    (its process has exited; a worker or served process starts it again)."""
    run = FlowRun.objects.filter(id=flow_run_id).only("id", "state_id", "state_type").first()
    if run is None:
        raise NotFound("Flow run not found")
    state = FlowRunState.objects.filter(id=run.state_id).first() if run.state_id else None
    if state is None or state.type != StateType.PAUSED:
        return OrchestrationResult(
            status="ABORT", details={"type": "abort_details", "reason": "Cannot resume a flow run that is not paused."}
        )
    details = state.state_details or {}
    keyset = details.get("run_input_keyset")
    if keyset:
        run_input = run_input or {}
        problem = _input_problem(flow_run_id, keyset, run_input)
        if problem:
            reject = {"type": "reject_details", "reason": problem}
            return OrchestrationResult(status="REJECT", details=reject, state=state)
    if details.get("pause_reschedule"):
        proposal = {"type": StateType.SCHEDULED, "name": "Resuming",
                    "state_details": {"scheduled_time": timezone.now().isoformat()}}
    else:
        proposal = {"type": StateType.RUNNING, "name": "Running"}
    with transaction.atomic():
        result = set_flow_run_state(flow_run_id=flow_run_id, state=proposal, client_version=client_version)
        if keyset and result.status == "ACCEPT":  # an empty answer ({}) is an answer too
            FlowRunInput.objects.update_or_create(
                flow_run_id=flow_run_id, key=keyset["response"], defaults={"value": json.dumps(run_input)}
            )
    return result


def _input_problem(flow_run_id, keyset: dict, run_input: dict) -> str | None:
    """Why this input cannot resume the run, or None."""
    schema_row = FlowRunInput.objects.filter(flow_run_id=flow_run_id, key=keyset.get("schema")).first()
    if schema_row is None:
        return "Run input schema not found."
    try:
        schema = json.loads(schema_row.value)
    except ValueError:
        return "Run input schema is not valid JSON."
    try:
        jsonschema.validate(run_input, schema)
    except jsonschema.ValidationError as exc:
        where = ".".join(map(str, exc.absolute_path))
        return f"Reason: {where + ': ' if where else ''}{exc.message}"
    except jsonschema.SchemaError as exc:
        return f"Invalid run input schema: {exc.message}"
    except (referencing.exceptions.Unresolvable, RecursionError) as exc:
        # An unresolvable or self-referencing $ref is the stored schema's fault, not the caller's.
        return f"Invalid run input schema: {exc}"
    return None

"""Helpers for orchestration tests: runs in a chosen state and proposals to feed rules."""

import uuid
from datetime import timedelta

from django.utils import timezone

from runs.models import FlowRun, FlowRunState, TaskRunState
from runs.orchestration.context import normalize_proposal
from runs.orchestration.datetimes import format_instant
from runs.orchestration.engine import _apply_rules


def as_spec(state):
    """A state given as "TYPE" or ("TYPE", "Name")."""
    if state is None:
        return None, None
    if isinstance(state, tuple):
        return state
    return state, None


def put_in_state(run, state, *, details=None, data=None, timestamp=None, message=None):
    """Give a run a current state directly (no orchestration), as if it had been written before."""
    state_type, name = as_spec(state)
    if state_type is None:
        return run
    timestamp = timestamp or timezone.now() - timedelta(seconds=5)
    model, owner = (FlowRunState, "flow_run") if isinstance(run, FlowRun) else (TaskRunState, "task_run")
    row = model.objects.create(
        type=state_type,
        name=name or state_type.capitalize(),
        timestamp=timestamp,
        message=message,
        state_details=details or {},
        data=data,
        **{owner: run},
    )
    run.state = row
    run.state_type, run.state_name, run.state_timestamp = row.type, row.name, row.timestamp
    run.save()
    return run


def proposal(state, *, details=None, data=None, message=None, **extra):
    state_type, name = as_spec(state)
    return normalize_proposal(
        {"type": state_type, "name": name, "state_details": details or {}, "data": data, "message": message, **extra}
    )


def fire(rule_class, ctx):
    """Enter one rule the way the engine does (only if it governs the intended transition)."""
    return _apply_rules(ctx, (rule_class,))


def iso_in(seconds: float) -> str:
    return format_instant(timezone.now() + timedelta(seconds=seconds))


def new_id() -> str:
    return str(uuid.uuid4())

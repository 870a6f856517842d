"""Entry points of orchestration: decide a proposed state under a row lock and write the outcome.

One transaction per proposal: lock the run row (SELECT ... FOR UPDATE on PostgreSQL; SQLite
connections begin IMMEDIATE transactions, which take the write lock at BEGIN), run the policy,
and on a state to write: bookkeeping, the state row, the run row, then the flow-run event and
the subflow's parent task run. Two competing proposals are thereby decided one after the other,
the second one seeing the first one's state.
"""

import logging
import uuid

from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from notifications.deliveries import queue_notifications
from runs.domain.errors import Conflict, NotFound
from runs.domain.events import publish_event
from runs.models import FlowRun, FlowRunState, TaskRun, TaskRunState

from . import policies
from .bookkeeping import FLOW_RUN_FIELDS, TASK_RUN_FIELDS, ensure_unique_timestamp, record_transition
from .context import OrchestrationResult, TransitionContext, normalize_proposal
from .instrumentation import flow_run_state_event

__all__ = ["OrchestrationResult", "orchestrate_flow_run", "orchestrate_task_run"]

logger = logging.getLogger(__name__)


def orchestrate_flow_run(
    *, flow_run_id, proposed: dict, force: bool = False, client_version: str | None = None
) -> OrchestrationResult:
    proposal = normalize_proposal(proposed)
    with transaction.atomic():
        ctx = _orchestrate_flow_run(flow_run_id, proposal, force=force, client_version=client_version)
    return ctx.result()


def orchestrate_task_run(
    *, task_run_id, proposed: dict, force: bool = False, client_version: str | None = None
) -> OrchestrationResult:
    proposal = normalize_proposal(proposed)
    with transaction.atomic():
        ctx = _orchestrate_task_run(task_run_id, proposal, force=force, client_version=client_version)
    return ctx.result()


def _lock_run(model, run_id, *related):
    """The run row, locked, with its current state read *after* the lock is granted.

    The state must not be joined into the locking query: on PostgreSQL a SELECT ... FOR UPDATE
    that waited for a competing transaction re-reads the locked row but keeps the joined rows
    of its old snapshot, so it would miss the state the competitor just wrote.
    """
    if connection.vendor == "sqlite":
        # SQLite transactions here begin IMMEDIATE: the whole database is locked already, so the
        # state can come in the same query.
        run = model.objects.select_related(*related, "state").filter(pk=run_id).first()
    else:
        run = model.objects.select_for_update(of=("self",)).select_related(*related).filter(pk=run_id).first()
    if run is None:
        raise NotFound(f"{'Flow' if model is FlowRun else 'Task'} run not found")
    if connection.vendor != "sqlite":
        state_model = FlowRunState if model is FlowRun else TaskRunState
        run.state = state_model.objects.filter(pk=run.state_id).first() if run.state_id else None
    return run


def _orchestrate_flow_run(flow_run_id, proposal, *, force, client_version) -> TransitionContext:
    run = _lock_run(FlowRun, flow_run_id, "flow")
    ctx = TransitionContext(
        run=run, initial_state=run.state, proposed=proposal, force=force, client_version=client_version
    )
    _orchestrate(
        ctx, policies.MINIMAL_FLOW_POLICY if force else policies.CORE_FLOW_POLICY, FlowRunState, FLOW_RUN_FIELDS
    )
    if ctx.created:
        _publish_flow_run_state(ctx)
        # The outbox rows of matching notification policies commit with the state, or not at all.
        queue_notifications(run, run.flow, ctx.validated_state)
        if run.parent_task_run_id:
            _mirror_onto_parent_task_run(ctx)
    return ctx


def _orchestrate_task_run(task_run_id, proposal, *, force, client_version) -> TransitionContext:
    run = _lock_run(TaskRun, task_run_id)
    ctx = TransitionContext(
        run=run, initial_state=run.state, proposed=proposal, force=force, client_version=client_version
    )
    _orchestrate(
        ctx, policies.MINIMAL_TASK_POLICY if force else policies.CORE_TASK_POLICY, TaskRunState, TASK_RUN_FIELDS
    )
    return ctx


def _orchestrate(ctx: TransitionContext, policy, state_model, run_fields):
    fired = _apply_rules(ctx, policy)
    if ctx.proposed is None:
        # Nothing to write (WAIT, ABORT, or REJECT keeping the current state): answer with it.
        ctx.validated_state = ctx.initial_state
    else:
        ensure_unique_timestamp(ctx, state_model)
        record_transition(ctx)
        _write_state(ctx, state_model)
    _finish_rules(ctx, fired)
    if ctx.created:
        ctx.run.save(update_fields=run_fields)


def _apply_rules(ctx, policy) -> list:
    """Run `before_transition` of each rule governing the intended transition, in order, while
    the proposal keeps the intended type; returns the rules that ran."""
    from_type, to_type = ctx.intended
    fired = []
    for rule_class in policy:
        if not rule_class.governs(from_type, to_type):
            continue
        if ctx.proposed is None or ctx.proposed_type != to_type:
            break  # an earlier rule withdrew or retyped the proposal; later rules do not apply
        rule = rule_class()
        ctx.active_rule = rule
        fired.append(rule)
        try:
            rule.before_transition(ctx)
        except DatabaseError:
            raise
        except Exception as exc:
            # A broken rule must not let an unchecked state through; nothing is written.
            logger.exception("Orchestration rule %s failed", rule)
            ctx.abort(f"Orchestration error in {rule}: {exc!r}")
    ctx.active_rule = None
    return fired


def _finish_rules(ctx, fired):
    """After the write: rules whose transition was written as intended run `after_transition`;
    the others undo their changes to the run. Innermost (last fired) first."""
    written_as_intended = ctx.created and ctx.proposed_type == ctx.intended[1]
    for rule in reversed(fired):
        if rule is ctx.decided_by:
            continue
        if written_as_intended:
            rule.after_transition(ctx)
        else:
            rule.cleanup(ctx)


def _write_state(ctx, state_model):
    proposed = ctx.proposed
    state_id = proposed.get("id") or uuid.uuid4()
    if proposed.get("id") and state_model.objects.filter(pk=state_id).exists():
        raise Conflict(f"A state with id {state_id} already exists.")
    owner = {"flow_run": ctx.run} if ctx.is_flow_run else {"task_run": ctx.run}
    state = state_model(
        id=state_id,
        type=proposed["type"],
        name=proposed["name"],
        timestamp=proposed["timestamp"],
        message=proposed["message"],
        state_details=proposed["state_details"],
        data=proposed["data"],
        **owner,
    )
    state.save(force_insert=True)
    ctx.run.state = state
    ctx.validated_state = state
    ctx.created = True


def _publish_flow_run_state(ctx):
    run = ctx.run
    parent_task_run = (
        TaskRun.objects.filter(pk=run.parent_task_run_id).only("id", "name", "tags").first()
        if run.parent_task_run_id
        else None
    )
    event = flow_run_state_event(
        flow_run=run,
        flow=run.flow,
        initial_state=ctx.initial_state,
        validated_state=ctx.validated_state,
        parent_task_run=parent_task_run,
    )
    publish_event(event)


def _mirror_onto_parent_task_run(ctx):
    """A subflow's parent task run has no client of its own: it follows the subflow's states
    (force-written, with a fresh id and timestamp, pointing back at the child run)."""
    validated = ctx.validated_state
    details = dict(validated.state_details or {})
    details["child_flow_run_id"] = str(ctx.run.id)
    mirrored = normalize_proposal(
        {
            "type": validated.type,
            "name": validated.name,
            "message": validated.message,
            "data": validated.data,
            "state_details": details,
            "timestamp": timezone.now(),
        }
    )
    _orchestrate_task_run(ctx.run.parent_task_run_id, mirrored, force=True, client_version=ctx.client_version)

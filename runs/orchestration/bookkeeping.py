"""What every written transition records on the run, whatever policy decided it (force included).

Runs after the policy, only when a state is about to be written, and before the write so the
state row and the run row agree.
"""

from datetime import timedelta

from runs.models import StateType

from .context import is_final
from .datetimes import parse_instant

# Run columns the bookkeeping (and the rules' after hooks) may change; saved in one UPDATE.
FLOW_RUN_FIELDS = [
    "state",
    "state_type",
    "state_name",
    "state_timestamp",
    "start_time",
    "end_time",
    "total_run_time",
    "expected_start_time",
    "next_scheduled_start_time",
    "run_count",
    "empirical_policy",
    "updated",
]
TASK_RUN_FIELDS = [*FLOW_RUN_FIELDS, "flow_run_run_count"]


def ensure_unique_timestamp(ctx, state_model):
    """Two states of one run never share a timestamp, so history order is never ambiguous
    (coarse clocks and fast clients produce ties). A tie moves the new state 1 µs later."""
    candidate = ctx.proposed["timestamp"]
    if ctx.initial_state is None:
        return  # the run's first state: nothing to collide with
    taken = set(
        state_model.objects.filter(
            **{_run_field(ctx): ctx.run.pk},
            timestamp__gte=candidate,
            timestamp__lt=candidate + timedelta(milliseconds=10),
        ).values_list("timestamp", flat=True)
    )
    while candidate in taken:
        candidate += timedelta(microseconds=1)
    ctx.proposed["timestamp"] = candidate


def _run_field(ctx) -> str:
    return "flow_run_id" if ctx.is_flow_run else "task_run_id"


def record_transition(ctx):
    """Copy the proposal onto the run and keep its timing columns and counters right."""
    run, proposed, initial = ctx.run, ctx.proposed, ctx.initial_state
    state_type, timestamp = proposed["type"], proposed["timestamp"]
    details = proposed["state_details"]

    run.state_type = state_type
    run.state_name = proposed["name"]
    run.state_timestamp = timestamp

    if state_type == StateType.RUNNING and run.start_time is None:
        run.start_time = timestamp
    if initial is not None and is_final(initial.type) and not is_final(state_type):
        run.end_time = None  # leaving a final state (a rerun): the run has not ended any more
    if is_final(state_type) and not run.end_time:
        run.start_time = run.start_time or timestamp
        run.end_time = timestamp
    if not isinstance(run.total_run_time, timedelta):  # the column's default is a bare 0
        run.total_run_time = timedelta(seconds=run.total_run_time or 0)
    if initial is not None and initial.type == StateType.RUNNING:
        run.total_run_time += timestamp - initial.timestamp

    scheduled_time = parse_instant(details.get("scheduled_time"))
    if not run.expected_start_time:
        run.expected_start_time = scheduled_time if state_type == StateType.SCHEDULED else timestamp
    if initial is not None and initial.type == StateType.SCHEDULED:
        run.next_scheduled_start_time = None
    if state_type == StateType.SCHEDULED:
        run.next_scheduled_start_time = scheduled_time

    if ctx.is_flow_run:
        details["flow_run_id"] = str(run.id)
        if run.parent_task_run_id:
            details["task_run_id"] = str(run.parent_task_run_id)
        _count_flow_run_attempt(ctx)
    else:
        details["flow_run_id"] = str(run.flow_run_id) if run.flow_run_id else None
        details["task_run_id"] = str(run.id)
        if state_type == StateType.RUNNING:
            run.run_count += 1


def _count_flow_run_attempt(ctx):
    """Running starts an attempt, unless it continues one after a pause (`resuming`)."""
    state_type = ctx.proposed["type"]
    resuming = bool(ctx.policy.get("resuming"))
    if state_type == StateType.RUNNING and not resuming:
        ctx.run.run_count += 1
    if resuming and (state_type == StateType.RUNNING or is_final(state_type)):
        ctx.update_policy(resuming=False)

"""Rules of the task-run policies. Each guards one race or misuse, named in its docstring."""

import random
from datetime import timedelta

from django.utils import timezone

from runs.models import StateType

from ..context import is_final, new_state
from .base import ANY_STATE, TERMINAL_STATES, Rule
from .flow_runs import configured_retries, has_persisted_result


class HandleTaskTerminalStateTransitions(Rule):
    """Decide what may leave a terminal task state.

    Guards: a late Crashed / Cancelling / Paused overwriting a finished task, and rerunning a task
    whose stored result others already read. A task that leaves a terminal state for a new attempt
    (the flow is retrying) gets its run count reset so its own retries start afresh, and its
    Running is named "Retrying" when the enclosing flow run is on a later attempt.
    """

    FROM_STATES = TERMINAL_STATES
    TO_STATES = ANY_STATE

    def before_transition(self, ctx):
        self.original_run_count = ctx.run.run_count
        if ctx.proposed_type in {StateType.CANCELLING, StateType.PAUSED, StateType.CRASHED}:
            ctx.abort(f"Run is already {ctx.initial_type}.")
            return
        if ctx.initial_type == StateType.COMPLETED and has_persisted_result(ctx.initial_state.data):
            ctx.reject_current("This run is already completed.")
            return
        if not is_final(ctx.proposed_type):
            ctx.run.run_count = 0
        if ctx.proposed_type == StateType.RUNNING:
            flow_run = ctx.flow_run()
            if flow_run is not None and ctx.run.flow_run_run_count < flow_run.run_count:
                ctx.rename("Retrying")

    def cleanup(self, ctx):
        ctx.run.run_count = self.original_run_count


class PreventRunningTasksFromStoppedFlows(Rule):
    """A task may only start while its flow run is running.

    Guards: tasks still being submitted after their flow run was cancelled, crashed or finished
    (they are aborted), and tasks starting while the flow is paused (they are parked in a Paused
    "NotReady" state carrying the flow's pause timeout, to start after the resume).
    """

    TO_STATES = frozenset({StateType.RUNNING})

    def before_transition(self, ctx):
        flow_run = ctx.flow_run()
        if flow_run is None:
            return
        if flow_run.state_type == StateType.PAUSED:
            flow_details = (flow_run.state.state_details if flow_run.state else None) or {}
            ctx.reject(
                new_state(
                    StateType.PAUSED,
                    name="NotReady",
                    pause_timeout=flow_details.get("pause_timeout"),
                    pause_reschedule=bool(flow_details.get("pause_reschedule")),
                    pause_key=None,
                ),
                f"The flow run {flow_run.id} is paused; new tasks can run once it resumes.",
            )
        elif flow_run.state_type != StateType.RUNNING:
            ctx.abort("The enclosing flow run must be running to begin task execution.")


class RetryFailedTasks(Rule):
    """Turn a Failed into AwaitingRetry while the task has retries left.

    Guards: a task with `retries` ending on its first failure. Honours a per-attempt list of
    delays, jitter, and the client's `retriable: false` (its retry condition said no).
    """

    FROM_STATES = frozenset({StateType.RUNNING})
    TO_STATES = frozenset({StateType.FAILED})

    def before_transition(self, ctx):
        if ctx.proposed_details.get("retriable") is False:
            return
        policy = ctx.policy
        retries = configured_retries(policy)
        if retries is None or ctx.run.run_count > retries:
            return
        delay = task_retry_delay(policy, ctx.run.run_count)
        retry_state = new_state(
            StateType.SCHEDULED,
            name="AwaitingRetry",
            message=ctx.proposed["message"],
            data=ctx.proposed["data"],
            scheduled_time=timezone.now() + timedelta(seconds=delay),
        )
        ctx.reject(retry_state, "Retrying")


def task_retry_delay(policy: dict, run_count: int) -> float:
    """The delay before the next attempt: the attempt's entry of a list of delays (the last one
    repeats), spread by up to +/- `retry_jitter_factor` of itself so retries do not stampede."""
    delay = policy.get("retry_delay")
    if delay is None:
        delay = policy.get("retry_delay_seconds")
    if isinstance(delay, list):
        base = delay[min(max(run_count - 1, 0), len(delay) - 1)] if delay else 0
    else:
        base = delay or 0
    base = float(base)
    jitter = policy.get("retry_jitter_factor")
    if jitter and base > 0:
        return max(0.0, random.uniform(base * (1 - jitter), base * (1 + jitter)))
    return base


class RenameReruns(Rule):
    """Name a repeated Running "Retrying" (after AwaitingRetry) or "Rerunning".

    Guards: nothing breaks without it, but a run's history would not tell a first attempt from
    a retry.
    """

    TO_STATES = frozenset({StateType.RUNNING})

    def before_transition(self, ctx):
        if ctx.initial_state is None or ctx.run.run_count <= 0:
            return
        ctx.rename("Retrying" if ctx.initial_name == "AwaitingRetry" else "Rerunning")


class UpdateFlowRunTrackerOnTasks(Rule):
    """Record which attempt of its flow run a task ran in.

    Guards: HandleTaskTerminalStateTransitions telling a task rerun by a flow retry (a later flow
    attempt) from a stray proposal within the same attempt.
    """

    TO_STATES = frozenset({StateType.RUNNING})

    def after_transition(self, ctx):
        flow_run = ctx.flow_run()
        if flow_run is not None:
            ctx.run.flow_run_run_count = flow_run.run_count

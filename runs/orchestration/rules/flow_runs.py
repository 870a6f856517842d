"""Rules of the flow-run policies. Each guards one race or misuse, named in its docstring."""

import uuid
from datetime import timedelta

from django.utils import timezone

from runs.models import StateType

from ..context import is_final, new_state
from ..datetimes import parse_instant
from .base import ANY_STATE, TERMINAL_STATES, Rule


def has_persisted_result(data) -> bool:
    """A result record the client stored somewhere; losing it would lose the run's output."""
    return isinstance(data, dict) and data.get("type") != "unpersisted"


class PreserveDeploymentConcurrencyLeaseId(Rule):
    """Keep the deployment concurrency lease id when a proposal sends it as null.

    Guards: workers post Pending -> Submitting with `deployment_concurrency_lease_id: null`; without
    this the lease taken on Pending would be forgotten and its slot never released.
    """

    def before_transition(self, ctx):
        lease_id = ctx.initial_details.get("deployment_concurrency_lease_id")
        if lease_id and not ctx.proposed_details.get("deployment_concurrency_lease_id"):
            ctx.proposed_details["deployment_concurrency_lease_id"] = lease_id


class PreventDuplicateTransitions(Rule):
    """Answer a repeated proposal (same `transition_id`) with the state it already produced.

    Guards: the client retries a set_state whose response it never received; without this the
    retry would write the transition twice (and, say, count a second run attempt).
    """

    def before_transition(self, ctx):
        if ctx.initial_state is None:
            return
        previous = ctx.initial_details.get("transition_id")
        proposed = ctx.proposed_details.get("transition_id")
        if previous and proposed and str(previous) == str(proposed):
            ctx.reject_current("This run has already made this state transition.")


class PreventResultDataLoss(Rule):
    """Refuse to replace a Completed state that points at a stored result with one that does not.

    Guards: a forced Completed (or a late duplicate from a crashed client) wiping out the reference
    to a result that downstream runs read. Part of the minimal policy, so it holds under force.
    """

    FROM_STATES = TERMINAL_STATES
    TO_STATES = TERMINAL_STATES

    def before_transition(self, ctx):
        if (
            ctx.initial_type == StateType.COMPLETED
            and ctx.proposed_type == StateType.COMPLETED
            and has_persisted_result(ctx.initial_state.data)
            and not has_persisted_result(ctx.proposed["data"])
        ):
            ctx.reject_current("A Completed state with a stored result cannot be replaced by one without it.")


class HandleFlowTerminalStateTransitions(Rule):
    """Decide what may leave a terminal state.

    Guards: a late Crashed / Cancelling / Paused from a dying process overwriting a finished run,
    a rerun discarding a stored result, and rescheduling a run no deployment could ever pick up.
    Leaving a terminal state for a new attempt resets the pause bookkeeping of the old attempt.
    """

    FROM_STATES = TERMINAL_STATES
    TO_STATES = ANY_STATE

    def before_transition(self, ctx):
        self.original_policy = ctx.run.empirical_policy
        initial_type, proposed_type = ctx.initial_type, ctx.proposed_type
        if proposed_type in {StateType.CANCELLING, StateType.PAUSED, StateType.CRASHED}:
            ctx.abort(f"Run is already in terminal state {initial_type}.")
            return
        completed_with_result = initial_type == StateType.COMPLETED and has_persisted_result(ctx.initial_state.data)
        if completed_with_result and not is_final(proposed_type):
            ctx.reject_current("Run is already COMPLETED.")
            return
        if (
            completed_with_result
            and proposed_type == StateType.COMPLETED
            and not has_persisted_result(ctx.proposed["data"])
        ):
            ctx.reject_current("A Completed state with a stored result cannot be replaced by one without it.")
            return
        if proposed_type == StateType.SCHEDULED and not ctx.run.deployment_id:
            ctx.abort("Cannot reschedule a run without an associated deployment.")
            return
        if not is_final(proposed_type):
            ctx.update_policy(
                resuming=False,
                pause_keys=[],
                retry_type="reschedule" if proposed_type == StateType.SCHEDULED else None,
            )

    def cleanup(self, ctx):
        ctx.run.empirical_policy = self.original_policy


class EnforceCancellingToCancelledTransition(Rule):
    """A Cancelling run may only become Cancelled.

    Guards: the run's process reporting Completed / Failed / Running while the worker is tearing
    it down, which would leave the cancellation half done and the infrastructure orphaned.
    """

    FROM_STATES = frozenset({StateType.CANCELLING})
    TO_STATES = ANY_STATE - {StateType.CANCELLED}

    def before_transition(self, ctx):
        ctx.reject_current("A cancelling run can only move to Cancelled.")


class BypassCancellingFlowRunsWithNoInfra(Rule):
    """Cancel straight away (Cancelled, not Cancelling) when no infrastructure is running.

    Guards: a Scheduled run with no process, a "Resuming" run, or a suspended run waiting forever
    in Cancelling for a worker that will never see it, since only a live process is torn down.
    AwaitingRetry runs with an infrastructure pid still have a process and go through Cancelling.
    """

    FROM_STATES = frozenset({StateType.SCHEDULED, StateType.PAUSED})
    TO_STATES = frozenset({StateType.CANCELLING})

    def before_transition(self, ctx):
        no_process = ctx.initial_type == StateType.SCHEDULED and not ctx.run.infrastructure_pid
        if no_process or ctx.initial_name == "Resuming":
            ctx.reject(new_state(StateType.CANCELLED), "Scheduled flow run has no infrastructure to terminate.")
        elif ctx.initial_type == StateType.PAUSED and ctx.initial_details.get("pause_reschedule"):
            ctx.reject(new_state(StateType.CANCELLED), "Suspended flow run has no infrastructure to terminate.")


class PreventPendingTransitions(Rule):
    """Only one submitter may move a run into Pending.

    Guards: two workers (or a worker and a runner) picking up the same scheduled run; the second
    one's Pending arrives on a Pending / Running run and is aborted, so it skips the run.
    Named sub-states of Pending (Pending -> Submitting) pass, keeping what Pending recorded.
    """

    FROM_STATES = frozenset({StateType.PENDING, StateType.CANCELLING, StateType.RUNNING, StateType.CANCELLED})
    TO_STATES = frozenset({StateType.PENDING})

    def before_transition(self, ctx):
        proposed_name = ctx.proposed["name"]
        if ctx.initial_type == StateType.PENDING and proposed_name not in {ctx.initial_name, "Pending"}:
            for key in ("scheduled_time", "deployment_concurrency_lease_id"):
                ctx.proposed_details[key] = ctx.initial_details.get(key)
            return
        ctx.abort(f"This run is in a {ctx.initial_type} state and cannot transition to a PENDING state.")


class EnsureOnlyScheduledFlowsMarkedLate(Rule):
    """Late is a Scheduled run that missed its time, and nothing else.

    Guards: the late-runs service marking a run Late just after a worker moved it to Pending or
    Running (it read a stale Scheduled), and marking the same run Late twice.
    """

    TO_STATES = frozenset({StateType.SCHEDULED})

    def before_transition(self, ctx):
        if ctx.initial_state is None or ctx.proposed["name"] != "Late":
            return
        if ctx.initial_type != StateType.SCHEDULED:
            ctx.reject_current("Only scheduled flow runs can be marked late.")
        elif ctx.initial_name == "Late":
            ctx.reject_current("This flow run is already marked late.")


class HandlePausingFlows(Rule):
    """Only a running flow may pause, and each pause point fires once.

    Guards: a pause proposed after the run already moved on, a pause_key replayed after a resume
    (which would pause the run again at the same point), and suspending runs that could never
    be rescheduled (subflows, runs without a deployment).
    """

    TO_STATES = frozenset({StateType.PAUSED})

    def before_transition(self, ctx):
        verb = "suspend" if ctx.proposed["name"] == "Suspended" else "pause"
        if ctx.initial_state is None:
            ctx.abort(f"Cannot {verb} a flow run that has no state.")
            return
        if ctx.initial_type != StateType.RUNNING:
            ctx.reject_current(f"Cannot {verb} a flow run that is not running.")
            return
        self.key = ctx.proposed_details.get("pause_key") or str(uuid.uuid4())
        if self.key in (ctx.policy.get("pause_keys") or []):
            ctx.reject_current(f"This {verb} has already happened.")
            return
        if ctx.proposed_details.get("pause_reschedule"):
            if ctx.run.parent_task_run_id:
                ctx.abort(f"Cannot {verb} a subflow run.")
            elif not ctx.run.deployment_id:
                ctx.abort(f"Cannot {verb} a flow run without a deployment.")

    def after_transition(self, ctx):
        pause_keys = list(ctx.policy.get("pause_keys") or [])
        if self.key not in pause_keys:
            pause_keys.append(self.key)
        ctx.update_policy(pause_keys=pause_keys)


class HandleResumingPausedFlows(Rule):
    """Decide how a paused run may leave its pause.

    Guards: a paused run slipping into Pending or another Paused; resuming a suspended run that
    no deployment can reschedule; resuming after the pause timed out (it fails instead, since the
    waiting process has given up). Cancelling always passes so a cancellation reaches the worker.
    """

    FROM_STATES = frozenset({StateType.PAUSED})
    TO_STATES = ANY_STATE

    def before_transition(self, ctx):
        proposed_type = ctx.proposed_type
        if proposed_type not in {StateType.RUNNING, StateType.SCHEDULED, StateType.CANCELLING} and not is_final(
            proposed_type
        ):
            ctx.reject_current(f"A paused run cannot move to {proposed_type}.")
            return
        verb = "suspend" if ctx.proposed["name"] == "Suspended" else "pause"
        if ctx.initial_details.get("pause_reschedule") and not ctx.run.deployment_id:
            ctx.reject_current("Cannot reschedule a suspended flow run without a deployment.")
            return
        if proposed_type == StateType.CANCELLING:
            return
        pause_timeout = parse_instant(ctx.initial_details.get("pause_timeout"))
        if pause_timeout and pause_timeout < timezone.now():
            ctx.reject(
                new_state(StateType.FAILED, message="The flow run was paused and never resumed."),
                f"The {verb} timed out; the flow run can no longer resume.",
            )

    def after_transition(self, ctx):
        # Tells IncrementFlowRunCount that the next Running continues this attempt.
        ctx.update_policy(resuming=True)


class RetryFailedFlows(Rule):
    """Turn a Failed into AwaitingRetry while the flow has retries left.

    Guards: a flow with `retries` ending on its first failure. The replacement keeps the failure's
    message and data, is scheduled `retry_delay` seconds out, and clears pause bookkeeping so the
    next attempt can pause again. Once retries are exhausted the Failed state is accepted.
    """

    FROM_STATES = frozenset({StateType.RUNNING})
    TO_STATES = frozenset({StateType.FAILED})

    def before_transition(self, ctx):
        retries = configured_retries(ctx.policy)
        if retries is None or ctx.run.run_count > retries:
            # A later manual retry (from the UI) must not look like an in-process one.
            ctx.update_policy(retry_type=None)
            return
        delay = configured_retry_delay(ctx.policy)
        scheduled_time = timezone.now() + timedelta(seconds=delay)
        ctx.update_policy(resuming=False, pause_keys=[], retry_type="in_process")
        retry_state = new_state(
            StateType.SCHEDULED,
            name="AwaitingRetry",
            message=ctx.proposed["message"],
            data=ctx.proposed["data"],
            scheduled_time=scheduled_time,
        )
        lease_id = ctx.initial_details.get("deployment_concurrency_lease_id")
        if lease_id:
            retry_state["state_details"]["deployment_concurrency_lease_id"] = lease_id
        ctx.reject(retry_state, "Retrying")


def configured_retries(policy: dict) -> int | None:
    """`retries`, falling back to the deprecated `max_retries` that older clients send."""
    retries = policy.get("retries")
    if retries is None and policy.get("max_retries"):
        retries = policy["max_retries"]
    return int(retries) if retries is not None else None


def configured_retry_delay(policy: dict) -> float:
    delay = policy.get("retry_delay")
    if delay is None:
        delay = policy.get("retry_delay_seconds")
    return float(delay or 0)

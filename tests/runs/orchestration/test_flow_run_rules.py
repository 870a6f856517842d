"""Each flow-run rule alone: when it fires, what it decides, and when it stays out of the way."""

import uuid

import pytest

from runs.models import StateType
from runs.orchestration.context import ABORT, ACCEPT, REJECT, WAIT
from runs.orchestration.datetimes import parse_instant
from runs.orchestration.rules.common import CopyScheduledTime, WaitForScheduledTime
from runs.orchestration.rules.flow_runs import (
    BypassCancellingFlowRunsWithNoInfra,
    EnforceCancellingToCancelledTransition,
    EnsureOnlyScheduledFlowsMarkedLate,
    HandleFlowTerminalStateTransitions,
    HandlePausingFlows,
    HandleResumingPausedFlows,
    PreserveDeploymentConcurrencyLeaseId,
    PreventDuplicateTransitions,
    PreventPendingTransitions,
    PreventResultDataLoss,
    RetryFailedFlows,
)

from .helpers import fire, iso_in

pytestmark = pytest.mark.django_db

ALL_TYPES = list(StateType.values)
TERMINAL = ["COMPLETED", "FAILED", "CANCELLED", "CRASHED"]
NON_TERMINAL = [t for t in ALL_TYPES if t not in TERMINAL]
RESULT = {"storage_key": "/tmp/result", "serializer": {"type": "pickle"}, "storage_block_id": None}


def assert_untouched(ctx, proposed_type):
    assert ctx.status == ACCEPT
    assert ctx.proposed is not None and ctx.proposed["type"] == proposed_type


class TestPreserveDeploymentConcurrencyLeaseId:
    def test_it_copies_the_lease_id_forward_when_the_proposal_sends_null(self, make_transition):
        lease = str(uuid.uuid4())
        ctx = make_transition(
            ("PENDING", "Pending"),
            ("PENDING", "Submitting"),
            initial_details={"deployment_concurrency_lease_id": lease},
            proposed_details={"deployment_concurrency_lease_id": None},
        )
        fire(PreserveDeploymentConcurrencyLeaseId, ctx)
        assert ctx.proposed_details["deployment_concurrency_lease_id"] == lease

    def test_it_does_not_fire_without_a_lease(self, make_transition):
        ctx = make_transition("PENDING", "RUNNING")
        fire(PreserveDeploymentConcurrencyLeaseId, ctx)
        assert "deployment_concurrency_lease_id" not in ctx.proposed_details


class TestPreventDuplicateTransitions:
    @pytest.mark.parametrize("initial", NON_TERMINAL + TERMINAL)
    def test_it_rejects_a_repeated_transition_id_keeping_the_current_state(self, make_transition, initial):
        transition_id = str(uuid.uuid4())
        ctx = make_transition(
            initial,
            "RUNNING",
            initial_details={"transition_id": transition_id},
            proposed_details={"transition_id": transition_id},
        )
        fire(PreventDuplicateTransitions, ctx)
        assert ctx.status == REJECT
        assert ctx.proposed is None
        assert "already made this state transition" in ctx.details["reason"]

    def test_it_does_not_fire_for_a_new_transition_id(self, make_transition):
        ctx = make_transition(
            "PENDING",
            "RUNNING",
            initial_details={"transition_id": str(uuid.uuid4())},
            proposed_details={"transition_id": str(uuid.uuid4())},
        )
        fire(PreventDuplicateTransitions, ctx)
        assert_untouched(ctx, "RUNNING")

    def test_it_does_not_fire_for_a_run_without_state(self, make_transition):
        ctx = make_transition(None, "PENDING", proposed_details={"transition_id": str(uuid.uuid4())})
        fire(PreventDuplicateTransitions, ctx)
        assert_untouched(ctx, "PENDING")


class TestHandleFlowTerminalStateTransitions:
    @pytest.mark.parametrize("initial", TERMINAL)
    @pytest.mark.parametrize("proposed", ["CANCELLING", "PAUSED", "CRASHED"])
    def test_it_aborts_late_crashes_pauses_and_cancellations(self, make_transition, initial, proposed):
        ctx = make_transition(initial, proposed)
        fire(HandleFlowTerminalStateTransitions, ctx)
        assert ctx.status == ABORT
        assert ctx.details["reason"] == f"Run is already in terminal state {initial}."

    @pytest.mark.parametrize("proposed", ["RUNNING", "PENDING"])
    def test_it_rejects_leaving_completed_with_a_stored_result(self, make_transition, proposed):
        ctx = make_transition("COMPLETED", proposed, initial_data=RESULT)
        fire(HandleFlowTerminalStateTransitions, ctx)
        assert (ctx.status, ctx.proposed) == (REJECT, None)

    def test_it_rejects_a_completed_that_would_drop_the_stored_result(self, make_transition):
        ctx = make_transition("COMPLETED", "COMPLETED", initial_data=RESULT, proposed_data=None)
        fire(HandleFlowTerminalStateTransitions, ctx)
        assert (ctx.status, ctx.proposed) == (REJECT, None)

    def test_it_aborts_rescheduling_without_a_deployment(self, make_transition):
        ctx = make_transition("FAILED", "SCHEDULED")
        fire(HandleFlowTerminalStateTransitions, ctx)
        assert ctx.status == ABORT

    def test_it_resets_pause_bookkeeping_when_rescheduled_by_a_deployment(self, make_transition):
        ctx = make_transition(
            "FAILED", "SCHEDULED", deployment_id=uuid.uuid4(), empirical_policy={"pause_keys": ["a"], "resuming": True}
        )
        fire(HandleFlowTerminalStateTransitions, ctx)
        assert_untouched(ctx, "SCHEDULED")
        assert ctx.run.empirical_policy == {"pause_keys": [], "resuming": False, "retry_type": "reschedule"}

    def test_its_cleanup_restores_the_policy_when_the_transition_is_not_written(self, make_transition):
        ctx = make_transition("FAILED", "RUNNING", empirical_policy={"pause_keys": ["a"]})
        (rule,) = fire(HandleFlowTerminalStateTransitions, ctx)
        assert ctx.run.empirical_policy["retry_type"] is None
        rule.cleanup(ctx)
        assert ctx.run.empirical_policy == {"pause_keys": ["a"]}

    @pytest.mark.parametrize("initial", TERMINAL)
    def test_it_allows_a_manual_rerun_of_a_run_without_stored_result(self, make_transition, initial):
        ctx = make_transition(initial, "RUNNING", initial_data={"type": "unpersisted"})
        fire(HandleFlowTerminalStateTransitions, ctx)
        assert_untouched(ctx, "RUNNING")

    @pytest.mark.parametrize("initial", NON_TERMINAL + [None])
    def test_it_does_not_fire_for_non_terminal_runs(self, make_transition, initial):
        ctx = make_transition(initial, "CRASHED")
        fire(HandleFlowTerminalStateTransitions, ctx)
        assert_untouched(ctx, "CRASHED")


class TestPreventResultDataLoss:
    def test_it_rejects_overwriting_a_stored_result(self, make_transition):
        ctx = make_transition("COMPLETED", "COMPLETED", initial_data=RESULT)
        fire(PreventResultDataLoss, ctx)
        assert ctx.status == REJECT

    @pytest.mark.parametrize("proposed_data", [RESULT, None])
    def test_it_does_not_fire_when_nothing_is_lost(self, make_transition, proposed_data):
        data = RESULT if proposed_data else None
        ctx = make_transition("COMPLETED", "COMPLETED", initial_data=data, proposed_data=proposed_data)
        fire(PreventResultDataLoss, ctx)
        assert_untouched(ctx, "COMPLETED")


class TestEnforceCancellingToCancelledTransition:
    @pytest.mark.parametrize("proposed", [t for t in ALL_TYPES if t != "CANCELLED"])
    def test_it_rejects_anything_but_cancelled(self, make_transition, proposed):
        ctx = make_transition("CANCELLING", proposed)
        fire(EnforceCancellingToCancelledTransition, ctx)
        assert (ctx.status, ctx.proposed) == (REJECT, None)

    def test_it_does_not_fire_for_cancelled(self, make_transition):
        ctx = make_transition("CANCELLING", "CANCELLED")
        fire(EnforceCancellingToCancelledTransition, ctx)
        assert_untouched(ctx, "CANCELLED")


class TestBypassCancellingFlowRunsWithNoInfra:
    def test_it_cancels_a_scheduled_run_without_a_process_directly(self, make_transition):
        ctx = make_transition("SCHEDULED", "CANCELLING")
        fire(BypassCancellingFlowRunsWithNoInfra, ctx)
        assert ctx.status == REJECT
        assert (ctx.proposed["type"], ctx.proposed["name"]) == ("CANCELLED", "Cancelled")

    def test_it_cancels_a_resuming_run_directly_even_with_a_process(self, make_transition):
        ctx = make_transition(("SCHEDULED", "Resuming"), "CANCELLING", infrastructure_pid="42")
        fire(BypassCancellingFlowRunsWithNoInfra, ctx)
        assert ctx.proposed["type"] == "CANCELLED"

    def test_it_cancels_a_suspended_run_directly(self, make_transition):
        ctx = make_transition(("PAUSED", "Suspended"), "CANCELLING", initial_details={"pause_reschedule": True})
        fire(BypassCancellingFlowRunsWithNoInfra, ctx)
        assert ctx.proposed["type"] == "CANCELLED"

    @pytest.mark.parametrize(
        "initial,fields,details",
        [
            (("SCHEDULED", "AwaitingRetry"), {"infrastructure_pid": "42"}, {}),
            ("PAUSED", {}, {"pause_reschedule": False}),
        ],
    )
    def test_it_does_not_fire_when_a_process_must_be_stopped(self, make_transition, initial, fields, details):
        ctx = make_transition(initial, "CANCELLING", initial_details=details, **fields)
        fire(BypassCancellingFlowRunsWithNoInfra, ctx)
        assert_untouched(ctx, "CANCELLING")

    def test_it_does_not_fire_for_running_runs(self, make_transition):
        ctx = make_transition("RUNNING", "CANCELLING")
        fire(BypassCancellingFlowRunsWithNoInfra, ctx)
        assert_untouched(ctx, "CANCELLING")


class TestPreventPendingTransitions:
    @pytest.mark.parametrize("initial", ["PENDING", "RUNNING", "CANCELLING", "CANCELLED"])
    def test_it_aborts_a_second_submission(self, make_transition, initial):
        ctx = make_transition(initial, "PENDING")
        fire(PreventPendingTransitions, ctx)
        assert ctx.status == ABORT
        assert f"in a {initial} state" in ctx.details["reason"]

    def test_it_aborts_pending_again_after_submitting(self, make_transition):
        ctx = make_transition(("PENDING", "Submitting"), ("PENDING", "Pending"))
        fire(PreventPendingTransitions, ctx)
        assert ctx.status == ABORT

    def test_it_lets_pending_move_to_a_named_sub_state_keeping_its_details(self, make_transition):
        scheduled = iso_in(-60)
        ctx = make_transition(
            ("PENDING", "Pending"), ("PENDING", "Submitting"), initial_details={"scheduled_time": scheduled}
        )
        fire(PreventPendingTransitions, ctx)
        assert_untouched(ctx, "PENDING")
        assert ctx.proposed_details["scheduled_time"] == scheduled

    @pytest.mark.parametrize("initial", [None, "SCHEDULED", "FAILED", "CRASHED", "COMPLETED", "PAUSED"])
    def test_it_does_not_fire_from_other_states(self, make_transition, initial):
        ctx = make_transition(initial, "PENDING")
        fire(PreventPendingTransitions, ctx)
        assert_untouched(ctx, "PENDING")


class TestEnsureOnlyScheduledFlowsMarkedLate:
    @pytest.mark.parametrize("initial", ["PENDING", "RUNNING", "COMPLETED", "PAUSED"])
    def test_it_rejects_marking_a_non_scheduled_run_late(self, make_transition, initial):
        ctx = make_transition(initial, ("SCHEDULED", "Late"), deployment_id=uuid.uuid4())
        fire(EnsureOnlyScheduledFlowsMarkedLate, ctx)
        assert (ctx.status, ctx.proposed) == (REJECT, None)

    def test_it_rejects_marking_a_late_run_late_again(self, make_transition):
        ctx = make_transition(("SCHEDULED", "Late"), ("SCHEDULED", "Late"))
        fire(EnsureOnlyScheduledFlowsMarkedLate, ctx)
        assert ctx.status == REJECT

    @pytest.mark.parametrize(
        "initial,proposed", [("SCHEDULED", ("SCHEDULED", "Late")), ("FAILED", ("SCHEDULED", "AwaitingRetry"))]
    )
    def test_it_does_not_fire_otherwise(self, make_transition, initial, proposed):
        ctx = make_transition(initial, proposed)
        fire(EnsureOnlyScheduledFlowsMarkedLate, ctx)
        assert_untouched(ctx, "SCHEDULED")


class TestHandlePausingFlows:
    def test_it_aborts_pausing_a_run_without_state(self, make_transition):
        ctx = make_transition(None, "PAUSED")
        fire(HandlePausingFlows, ctx)
        assert ctx.status == ABORT

    @pytest.mark.parametrize("initial", ["SCHEDULED", "PENDING", "COMPLETED", "PAUSED"])
    def test_it_rejects_pausing_a_run_that_is_not_running(self, make_transition, initial):
        ctx = make_transition(initial, "PAUSED")
        fire(HandlePausingFlows, ctx)
        assert (ctx.status, ctx.proposed) == (REJECT, None)

    def test_it_rejects_a_pause_key_that_already_fired(self, make_transition):
        ctx = make_transition(
            "RUNNING", "PAUSED", proposed_details={"pause_key": "k1"}, empirical_policy={"pause_keys": ["k1"]}
        )
        fire(HandlePausingFlows, ctx)
        assert ctx.status == REJECT
        assert "already happened" in ctx.details["reason"]

    def test_it_aborts_suspending_a_run_without_deployment(self, make_transition):
        ctx = make_transition("RUNNING", ("PAUSED", "Suspended"), proposed_details={"pause_reschedule": True})
        fire(HandlePausingFlows, ctx)
        assert ctx.status == ABORT
        assert "suspend" in ctx.details["reason"]

    def test_it_records_the_pause_key_after_the_pause(self, make_transition):
        ctx = make_transition(
            "RUNNING", "PAUSED", proposed_details={"pause_key": "k2"}, empirical_policy={"pause_keys": ["k1"]}
        )
        (rule,) = fire(HandlePausingFlows, ctx)
        assert_untouched(ctx, "PAUSED")
        rule.after_transition(ctx)
        assert ctx.run.empirical_policy["pause_keys"] == ["k1", "k2"]

    def test_it_does_not_fire_for_other_targets(self, make_transition):
        ctx = make_transition("RUNNING", "COMPLETED")
        assert fire(HandlePausingFlows, ctx) == []


class TestHandleResumingPausedFlows:
    @pytest.mark.parametrize("proposed", ["PENDING", "PAUSED"])
    def test_it_rejects_leaving_a_pause_for_pending_or_paused(self, make_transition, proposed):
        ctx = make_transition("PAUSED", proposed)
        fire(HandleResumingPausedFlows, ctx)
        assert (ctx.status, ctx.proposed) == (REJECT, None)

    def test_it_fails_a_run_whose_pause_timed_out(self, make_transition):
        ctx = make_transition("PAUSED", "RUNNING", initial_details={"pause_timeout": iso_in(-10)})
        fire(HandleResumingPausedFlows, ctx)
        assert ctx.status == REJECT
        assert ctx.proposed["type"] == "FAILED"
        assert "never resumed" in ctx.proposed["message"]

    def test_it_lets_cancellation_through_after_the_timeout(self, make_transition):
        ctx = make_transition("PAUSED", "CANCELLING", initial_details={"pause_timeout": iso_in(-10)})
        fire(HandleResumingPausedFlows, ctx)
        assert_untouched(ctx, "CANCELLING")

    def test_it_rejects_resuming_a_suspended_run_without_deployment(self, make_transition):
        ctx = make_transition(
            ("PAUSED", "Suspended"), ("SCHEDULED", "Resuming"), initial_details={"pause_reschedule": True}
        )
        fire(HandleResumingPausedFlows, ctx)
        assert ctx.status == REJECT

    @pytest.mark.parametrize("proposed", ["RUNNING", "SCHEDULED", "COMPLETED", "FAILED", "CANCELLED", "CRASHED"])
    def test_it_marks_the_run_resuming_after_a_timely_resume(self, make_transition, proposed):
        ctx = make_transition("PAUSED", proposed, initial_details={"pause_timeout": iso_in(600)})
        (rule,) = fire(HandleResumingPausedFlows, ctx)
        assert_untouched(ctx, proposed)
        rule.after_transition(ctx)
        assert ctx.run.empirical_policy["resuming"] is True

    def test_it_does_not_fire_for_runs_that_are_not_paused(self, make_transition):
        ctx = make_transition("RUNNING", "PENDING")
        assert fire(HandleResumingPausedFlows, ctx) == []


class TestCopyScheduledTime:
    def test_it_copies_the_scheduled_time_into_pending(self, make_transition):
        scheduled = iso_in(30)
        ctx = make_transition("SCHEDULED", "PENDING", initial_details={"scheduled_time": scheduled})
        fire(CopyScheduledTime, ctx)
        assert ctx.proposed_details["scheduled_time"] == scheduled

    def test_a_time_proposed_on_pending_wins(self, make_transition):
        mine = iso_in(90)
        ctx = make_transition(
            "SCHEDULED",
            "PENDING",
            initial_details={"scheduled_time": iso_in(30)},
            proposed_details={"scheduled_time": mine},
        )
        fire(CopyScheduledTime, ctx)
        assert parse_instant(ctx.proposed_details["scheduled_time"]) == parse_instant(mine)

    def test_it_does_not_fire_from_other_states(self, make_transition):
        ctx = make_transition("RUNNING", "PENDING")
        fire(CopyScheduledTime, ctx)
        assert "scheduled_time" not in ctx.proposed_details


class TestWaitForScheduledTime:
    @pytest.mark.parametrize("initial", ["SCHEDULED", "PENDING"])
    def test_it_makes_an_early_start_wait(self, make_transition, initial):
        ctx = make_transition(initial, "RUNNING", initial_details={"scheduled_time": iso_in(30)})
        fire(WaitForScheduledTime, ctx)
        assert ctx.status == WAIT
        assert ctx.proposed is None
        assert 29 <= ctx.details["delay_seconds"] <= 30

    @pytest.mark.parametrize("seconds", [-30, 0.2])
    def test_it_does_not_fire_when_due(self, make_transition, seconds):
        ctx = make_transition("SCHEDULED", "RUNNING", initial_details={"scheduled_time": iso_in(seconds)})
        fire(WaitForScheduledTime, ctx)
        assert_untouched(ctx, "RUNNING")

    def test_it_does_not_fire_without_a_scheduled_time(self, make_transition):
        ctx = make_transition("PENDING", "RUNNING")
        fire(WaitForScheduledTime, ctx)
        assert_untouched(ctx, "RUNNING")


class TestRetryFailedFlows:
    @pytest.mark.parametrize("run_count,retries", [(1, 1), (1, 3), (3, 3)])
    def test_it_schedules_a_retry_while_retries_remain(self, make_transition, run_count, retries):
        ctx = make_transition(
            "RUNNING",
            "FAILED",
            proposed_message="boom",
            proposed_data=RESULT,
            run_count=run_count,
            empirical_policy={"retries": retries, "retry_delay": 10, "pause_keys": ["k"]},
        )
        fire(RetryFailedFlows, ctx)
        assert ctx.status == REJECT
        assert (ctx.proposed["type"], ctx.proposed["name"]) == ("SCHEDULED", "AwaitingRetry")
        assert (ctx.proposed["message"], ctx.proposed["data"]) == ("boom", RESULT)
        delay = (parse_instant(ctx.proposed_details["scheduled_time"]) - ctx.proposed["timestamp"]).total_seconds()
        assert 9 <= delay <= 11
        assert ctx.run.empirical_policy["retry_type"] == "in_process"
        assert ctx.run.empirical_policy["pause_keys"] == []

    def test_it_honours_the_deprecated_max_retries(self, make_transition):
        ctx = make_transition("RUNNING", "FAILED", run_count=1, empirical_policy={"max_retries": 1})
        fire(RetryFailedFlows, ctx)
        assert ctx.status == REJECT

    @pytest.mark.parametrize("run_count,policy", [(2, {"retries": 1}), (1, {"retries": 0}), (1, {})])
    def test_it_accepts_the_failure_once_retries_are_exhausted(self, make_transition, run_count, policy):
        ctx = make_transition(
            "RUNNING", "FAILED", run_count=run_count, empirical_policy={**policy, "retry_type": "in_process"}
        )
        fire(RetryFailedFlows, ctx)
        assert_untouched(ctx, "FAILED")
        assert ctx.run.empirical_policy["retry_type"] is None

    def test_it_does_not_fire_for_failures_outside_running(self, make_transition):
        ctx = make_transition("PENDING", "FAILED", run_count=0, empirical_policy={"retries": 3})
        fire(RetryFailedFlows, ctx)
        assert_untouched(ctx, "FAILED")

"""Each task-run rule alone: when it fires, what it decides, and when it stays out of the way."""

import pytest

from runs.orchestration.context import ABORT, ACCEPT, REJECT
from runs.orchestration.datetimes import parse_instant
from runs.orchestration.rules.task_runs import (
    HandleTaskTerminalStateTransitions,
    PreventRunningTasksFromStoppedFlows,
    RenameReruns,
    RetryFailedTasks,
    UpdateFlowRunTrackerOnTasks,
    task_retry_delay,
)

from .helpers import fire, iso_in

pytestmark = pytest.mark.django_db

TERMINAL = ["COMPLETED", "FAILED", "CANCELLED", "CRASHED"]
RESULT = {"storage_key": "/tmp/result", "serializer": {"type": "pickle"}}


def assert_untouched(ctx, proposed_type):
    assert ctx.status == ACCEPT
    assert ctx.proposed is not None and ctx.proposed["type"] == proposed_type


class TestHandleTaskTerminalStateTransitions:
    @pytest.mark.parametrize("initial", TERMINAL)
    @pytest.mark.parametrize("proposed", ["CANCELLING", "PAUSED", "CRASHED"])
    def test_it_aborts_late_crashes_pauses_and_cancellations(self, make_transition, initial, proposed):
        ctx = make_transition(initial, proposed, kind="task")
        fire(HandleTaskTerminalStateTransitions, ctx)
        assert ctx.status == ABORT

    def test_it_rejects_rerunning_a_task_with_a_stored_result(self, make_transition):
        ctx = make_transition("COMPLETED", "RUNNING", kind="task", initial_data=RESULT)
        fire(HandleTaskTerminalStateTransitions, ctx)
        assert (ctx.status, ctx.proposed) == (REJECT, None)

    @pytest.mark.parametrize("initial", ["FAILED", "CRASHED", "CANCELLED"])
    def test_it_resets_the_run_count_when_a_task_is_rerun(self, make_transition, initial):
        ctx = make_transition(initial, "PENDING", kind="task", run_count=3)
        fire(HandleTaskTerminalStateTransitions, ctx)
        assert_untouched(ctx, "PENDING")
        assert ctx.run.run_count == 0

    def test_its_cleanup_restores_the_run_count(self, make_transition):
        ctx = make_transition("FAILED", "PENDING", kind="task", run_count=3)
        (rule,) = fire(HandleTaskTerminalStateTransitions, ctx)
        rule.cleanup(ctx)
        assert ctx.run.run_count == 3

    def test_it_names_the_rerun_retrying_when_the_flow_run_retries(self, make_flow_run, make_transition):
        flow_run = make_flow_run("RUNNING", run_count=2)
        ctx = make_transition("FAILED", "RUNNING", kind="task", flow_run=flow_run, flow_run_run_count=1)
        fire(HandleTaskTerminalStateTransitions, ctx)
        assert ctx.proposed["name"] == "Retrying"

    @pytest.mark.parametrize("initial", [None, "PENDING", "RUNNING", "SCHEDULED"])
    def test_it_does_not_fire_for_non_terminal_tasks(self, make_transition, initial):
        ctx = make_transition(initial, "CRASHED", kind="task", run_count=2)
        fire(HandleTaskTerminalStateTransitions, ctx)
        assert_untouched(ctx, "CRASHED")
        assert ctx.run.run_count == 2


class TestPreventRunningTasksFromStoppedFlows:
    @pytest.mark.parametrize(
        "flow_state", ["COMPLETED", "FAILED", "CANCELLED", "CRASHED", "CANCELLING", "PENDING", "SCHEDULED"]
    )
    def test_it_aborts_tasks_of_a_flow_run_that_is_not_running(self, make_transition, make_flow_run, flow_state):
        ctx = make_transition("PENDING", "RUNNING", kind="task", flow_run=make_flow_run(flow_state))
        fire(PreventRunningTasksFromStoppedFlows, ctx)
        assert ctx.status == ABORT

    def test_it_aborts_tasks_of_a_flow_run_without_state(self, make_transition, make_flow_run):
        ctx = make_transition("PENDING", "RUNNING", kind="task", flow_run=make_flow_run(None))
        fire(PreventRunningTasksFromStoppedFlows, ctx)
        assert ctx.status == ABORT

    def test_it_parks_tasks_of_a_paused_flow_run(self, make_transition, make_flow_run):
        timeout = iso_in(300)
        flow_run = make_flow_run("PAUSED", details={"pause_timeout": timeout, "pause_reschedule": False})
        ctx = make_transition("PENDING", "RUNNING", kind="task", flow_run=flow_run)
        fire(PreventRunningTasksFromStoppedFlows, ctx)
        assert ctx.status == REJECT
        assert (ctx.proposed["type"], ctx.proposed["name"]) == ("PAUSED", "NotReady")
        assert parse_instant(ctx.proposed_details["pause_timeout"]) == parse_instant(timeout)

    def test_it_does_not_fire_while_the_flow_run_runs(self, make_transition):
        ctx = make_transition("PENDING", "RUNNING", kind="task", flow_run_state="RUNNING")
        fire(PreventRunningTasksFromStoppedFlows, ctx)
        assert_untouched(ctx, "RUNNING")

    def test_it_does_not_fire_for_tasks_outside_a_flow_run(self, make_transition):
        ctx = make_transition("PENDING", "RUNNING", kind="task", flow_run_state=None)
        fire(PreventRunningTasksFromStoppedFlows, ctx)
        assert_untouched(ctx, "RUNNING")


class TestRetryFailedTasks:
    @pytest.mark.parametrize("run_count,retries", [(1, 1), (2, 5)])
    def test_it_schedules_a_retry_while_retries_remain(self, make_transition, run_count, retries):
        ctx = make_transition(
            "RUNNING",
            "FAILED",
            kind="task",
            run_count=run_count,
            proposed_message="bad",
            empirical_policy={"retries": retries, "retry_delay": 5},
        )
        fire(RetryFailedTasks, ctx)
        assert ctx.status == REJECT
        assert (ctx.proposed["type"], ctx.proposed["name"], ctx.proposed["message"]) == (
            "SCHEDULED",
            "AwaitingRetry",
            "bad",
        )
        delay = (parse_instant(ctx.proposed_details["scheduled_time"]) - ctx.proposed["timestamp"]).total_seconds()
        assert 4 <= delay <= 6

    def test_it_accepts_a_failure_the_client_marked_not_retriable(self, make_transition):
        ctx = make_transition(
            "RUNNING",
            "FAILED",
            kind="task",
            run_count=1,
            proposed_details={"retriable": False},
            empirical_policy={"retries": 3},
        )
        fire(RetryFailedTasks, ctx)
        assert_untouched(ctx, "FAILED")

    @pytest.mark.parametrize("run_count,policy", [(2, {"retries": 1}), (1, {})])
    def test_it_accepts_the_failure_once_retries_are_exhausted(self, make_transition, run_count, policy):
        ctx = make_transition("RUNNING", "FAILED", kind="task", run_count=run_count, empirical_policy=policy)
        fire(RetryFailedTasks, ctx)
        assert_untouched(ctx, "FAILED")


class TestTaskRetryDelay:
    def test_a_list_of_delays_is_indexed_by_attempt_and_the_last_repeats(self):
        policy = {"retry_delay": [1, 10, 100]}
        assert [task_retry_delay(policy, n) for n in (1, 2, 3, 7)] == [1, 10, 100, 100]

    def test_jitter_stays_within_the_factor(self):
        delays = [task_retry_delay({"retry_delay": 10, "retry_jitter_factor": 0.5}, 1) for _ in range(50)]
        assert all(5 <= delay <= 15 for delay in delays)
        assert len(set(delays)) > 1

    def test_no_delay_means_zero(self):
        assert task_retry_delay({}, 1) == 0


class TestRenameReruns:
    def test_it_names_a_run_after_awaiting_retry_retrying(self, make_transition):
        ctx = make_transition(("SCHEDULED", "AwaitingRetry"), "RUNNING", kind="task", run_count=1)
        fire(RenameReruns, ctx)
        assert ctx.proposed["name"] == "Retrying"

    def test_it_names_any_other_repeat_rerunning(self, make_transition):
        ctx = make_transition("PENDING", "RUNNING", kind="task", run_count=1)
        fire(RenameReruns, ctx)
        assert ctx.proposed["name"] == "Rerunning"

    def test_it_does_not_fire_on_the_first_run(self, make_transition):
        ctx = make_transition("PENDING", "RUNNING", kind="task", run_count=0)
        fire(RenameReruns, ctx)
        assert ctx.proposed["name"] == "Running"


class TestUpdateFlowRunTrackerOnTasks:
    def test_it_records_the_flow_run_attempt_after_the_task_starts(self, make_transition, make_flow_run):
        ctx = make_transition("PENDING", "RUNNING", kind="task", flow_run=make_flow_run("RUNNING", run_count=3))
        (rule,) = fire(UpdateFlowRunTrackerOnTasks, ctx)
        rule.after_transition(ctx)
        assert ctx.run.flow_run_run_count == 3

    def test_it_does_not_fire_for_other_targets(self, make_transition):
        ctx = make_transition("RUNNING", "COMPLETED", kind="task")
        assert fire(UpdateFlowRunTrackerOnTasks, ctx) == []

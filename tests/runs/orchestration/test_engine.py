"""The engine end to end on the database: decisions, what gets written, and the bookkeeping."""

import uuid
from datetime import timedelta

import pytest
from django.utils import timezone

from runs.domain.errors import InvalidInput, NotFound
from runs.models import FlowRun, FlowRunState, TaskRun, TaskRunState
from runs.orchestration import engine
from runs.orchestration.datetimes import format_instant, parse_instant
from runs.orchestration.engine import orchestrate_flow_run, orchestrate_task_run

from .helpers import iso_in

pytestmark = pytest.mark.django_db

RESULT = {"storage_key": "/tmp/result", "serializer": {"type": "pickle"}, "storage_block_id": None}


def propose(run, state_type, name=None, *, force=False, **fields):
    orchestrate = orchestrate_flow_run if isinstance(run, FlowRun) else orchestrate_task_run
    key = "flow_run_id" if isinstance(run, FlowRun) else "task_run_id"
    fields.setdefault("state_details", {})
    return orchestrate(**{key: run.id}, proposed={"type": state_type, "name": name, **fields}, force=force)


def reload(run):
    return type(run).objects.select_related("state").get(pk=run.pk)


def state_count(run):
    if isinstance(run, FlowRun):
        return FlowRunState.objects.filter(flow_run=run).count()
    return TaskRunState.objects.filter(task_run=run).count()


class TestOrchestrateFlowRun:
    def test_an_accepted_state_is_written_and_becomes_the_current_state(self, make_flow_run):
        run = make_flow_run(None)
        result = propose(run, "PENDING")
        assert (result.status, result.details, result.created) == ("ACCEPT", {"type": "accept_details"}, True)
        run = reload(run)
        assert run.state == result.state
        assert (run.state_type, run.state_name, run.state_timestamp) == ("PENDING", "Pending", result.state.timestamp)
        assert result.state.state_details["flow_run_id"] == str(run.id)

    def test_the_state_keeps_message_data_and_details_as_given(self, make_flow_run):
        run = make_flow_run("RUNNING")
        transition_id = str(uuid.uuid4())
        result = propose(run, "COMPLETED", message="done", data=RESULT, state_details={"transition_id": transition_id})
        state = FlowRunState.objects.get(pk=result.state.pk)
        assert (state.message, state.data, state.state_details["transition_id"]) == ("done", RESULT, transition_id)

    def test_a_rejection_keeping_the_current_state_writes_nothing(self, make_flow_run):
        run = make_flow_run("CANCELLING")
        before = reload(run).state
        result = propose(run, "COMPLETED")
        assert (result.status, result.created, result.state) == ("REJECT", False, before)
        assert state_count(run) == 1

    def test_a_wait_writes_nothing_and_returns_the_current_state(self, make_flow_run):
        run = make_flow_run("SCHEDULED", details={"scheduled_time": iso_in(120)})
        result = propose(run, "RUNNING")
        assert result.status == "WAIT"
        assert result.details["type"] == "wait_details" and 119 <= result.details["delay_seconds"] <= 120
        assert (result.created, result.state) == (False, reload(run).state)
        assert state_count(run) == 1

    def test_an_abort_writes_nothing_and_says_why(self, make_flow_run):
        run = make_flow_run("COMPLETED")
        result = propose(run, "CANCELLING")
        assert result.status == "ABORT"
        assert result.details == {"type": "abort_details", "reason": "Run is already in terminal state COMPLETED."}
        assert (result.created, result.state.type) == (False, "COMPLETED")
        assert reload(run).state_type == "COMPLETED"

    def test_an_unknown_run_is_not_found(self, db):
        with pytest.raises(NotFound):
            orchestrate_flow_run(flow_run_id=uuid.uuid4(), proposed={"type": "RUNNING"})

    @pytest.mark.parametrize(
        "proposed",
        [
            {"type": "RUNNIN"},
            {"type": None},
            {"type": "RUNNING", "state_details": "x"},
            {"type": "SCHEDULED", "state_details": {"scheduled_time": "soon"}},
            {"type": "RUNNING", "timestamp": "yesterday"},
            {"type": "RUNNING", "id": "not-a-uuid"},
            "RUNNING",
        ],
    )
    def test_a_malformed_proposal_is_invalid_input(self, make_flow_run, proposed):
        run = make_flow_run("PENDING")
        with pytest.raises(InvalidInput):
            orchestrate_flow_run(flow_run_id=run.id, proposed=proposed)
        assert state_count(run) == 1

    def test_a_proposal_without_a_name_gets_its_types_name(self, make_flow_run):
        result = propose(make_flow_run("RUNNING"), "CANCELLING")
        assert result.state.name == "Cancelling"

    def test_a_scheduled_proposal_without_a_time_is_due_now(self, make_flow_run):
        result = propose(make_flow_run(None), "SCHEDULED")
        scheduled = parse_instant(result.state.state_details["scheduled_time"])
        assert abs(scheduled - result.state.timestamp) < timedelta(seconds=1)

    def test_a_duplicate_transition_id_returns_the_state_already_written(self, make_flow_run):
        run = make_flow_run("PENDING")
        transition_id = str(uuid.uuid4())
        first = propose(run, "RUNNING", state_details={"transition_id": transition_id})
        again = propose(run, "RUNNING", state_details={"transition_id": transition_id})
        assert (again.status, again.created, again.state.pk) == ("REJECT", False, first.state.pk)
        assert reload(run).run_count == 1

    def test_a_broken_rule_aborts_without_writing(self, make_flow_run, monkeypatch):
        def explode(self, ctx):
            raise ValueError("bug")

        monkeypatch.setattr("runs.orchestration.rules.flow_runs.RetryFailedFlows.before_transition", explode)
        run = make_flow_run("RUNNING")
        result = propose(run, "FAILED")
        assert result.status == "ABORT" and "RetryFailedFlows" in result.details["reason"]
        assert state_count(run) == 1

    def test_a_rule_that_was_overruled_undoes_its_changes(self, make_flow_run):
        # Terminal-state handling resets the pause keys, then the Late check rejects the proposal.
        run = make_flow_run("FAILED", deployment_id=uuid.uuid4(), empirical_policy={"pause_keys": ["k"]})
        result = propose(run, "SCHEDULED", "Late")
        assert result.status == "REJECT"
        assert reload(run).empirical_policy == {"pause_keys": ["k"]}


class TestBookkeeping:
    def test_a_full_run_records_counts_and_times(self, make_flow_run):
        run = make_flow_run(None)
        scheduled = propose(run, "SCHEDULED", state_details={"scheduled_time": iso_in(-30)}).state
        run = reload(run)
        assert run.expected_start_time == parse_instant(scheduled.state_details["scheduled_time"])
        assert run.next_scheduled_start_time == run.expected_start_time
        propose(run, "PENDING")
        assert reload(run).next_scheduled_start_time is None
        running = propose(run, "RUNNING").state
        run = reload(run)
        assert (run.run_count, run.start_time, run.end_time) == (1, running.timestamp, None)
        completed = propose(run, "COMPLETED").state
        run = reload(run)
        assert run.end_time == completed.timestamp
        assert run.total_run_time == completed.timestamp - running.timestamp
        assert run.expected_start_time == parse_instant(scheduled.state_details["scheduled_time"])

    def test_expected_start_time_is_the_first_states_time_when_not_scheduled(self, make_flow_run):
        run = make_flow_run(None)
        pending = propose(run, "PENDING").state
        assert reload(run).expected_start_time == pending.timestamp

    def test_total_run_time_adds_up_each_running_stretch(self, make_flow_run):
        start = timezone.now() - timedelta(minutes=10)
        run = make_flow_run("RUNNING", timestamp=start, run_count=1, start_time=start)
        propose(run, "PAUSED", timestamp=format_instant(start + timedelta(seconds=30)))
        propose(run, "RUNNING", timestamp=format_instant(start + timedelta(seconds=90)))
        propose(run, "COMPLETED", timestamp=format_instant(start + timedelta(seconds=100)))
        run = reload(run)
        assert run.total_run_time == timedelta(seconds=40)
        assert run.start_time == start

    def test_leaving_a_final_state_clears_the_end_time(self, make_flow_run):
        run = make_flow_run("RUNNING")
        propose(run, "FAILED")
        assert reload(run).end_time is not None
        propose(run, "RUNNING")
        run = reload(run)
        assert (run.end_time, run.run_count) == (None, 1)

    def test_a_final_state_without_running_sets_start_and_end(self, make_flow_run):
        run = make_flow_run("PENDING")
        cancelled = propose(run, "CANCELLED").state
        run = reload(run)
        assert run.start_time == run.end_time == cancelled.timestamp

    def test_running_after_a_resume_does_not_count_as_a_new_attempt(self, make_flow_run):
        run = make_flow_run(("SCHEDULED", "Resuming"), run_count=1, empirical_policy={"resuming": True})
        propose(run, "PENDING")
        propose(run, "RUNNING")
        run = reload(run)
        assert run.run_count == 1
        assert run.empirical_policy["resuming"] is False

    def test_a_state_never_shares_its_timestamp_with_another_of_the_run(self, make_flow_run):
        at = timezone.now() - timedelta(seconds=1)
        run = make_flow_run("PENDING", timestamp=at)
        result = propose(run, "RUNNING", timestamp=format_instant(at))
        assert result.state.timestamp == at + timedelta(microseconds=1)
        assert reload(run).start_time == result.state.timestamp

    def test_task_runs_count_attempts_and_remember_the_flow_attempt(self, make_task_run, make_flow_run):
        flow_run = make_flow_run("RUNNING", run_count=2)
        task = make_task_run("PENDING", flow_run=flow_run)
        result = propose(task, "RUNNING")
        task = reload(task)
        assert (task.run_count, task.flow_run_run_count, task.start_time) == (1, 2, result.state.timestamp)
        assert result.state.state_details["task_run_id"] == str(task.id)
        assert result.state.state_details["flow_run_id"] == str(flow_run.id)


class TestFlowRetries:
    def test_failures_are_retried_until_retries_are_exhausted(self, make_flow_run):
        run = make_flow_run("PENDING", empirical_policy={"retries": 1, "retry_delay": 0})
        assert propose(run, "RUNNING").status == "ACCEPT"
        retry = propose(run, "FAILED", message="boom", data=RESULT)
        assert (retry.status, retry.created) == ("REJECT", True)
        assert (retry.state.type, retry.state.name, retry.state.message, retry.state.data) == (
            "SCHEDULED",
            "AwaitingRetry",
            "boom",
            RESULT,
        )
        assert retry.details == {"type": "reject_details", "reason": "Retrying"}
        run = reload(run)
        assert (run.state_name, run.empirical_policy["retry_type"]) == ("AwaitingRetry", "in_process")
        assert run.next_scheduled_start_time == parse_instant(retry.state.state_details["scheduled_time"])
        assert propose(run, "RUNNING").status == "ACCEPT"
        final = propose(run, "FAILED")
        assert (final.status, final.state.type) == ("ACCEPT", "FAILED")
        run = reload(run)
        assert (run.run_count, run.empirical_policy["retry_type"]) == (2, None)

    def test_a_retry_with_a_delay_makes_the_next_start_wait(self, make_flow_run):
        run = make_flow_run("RUNNING", run_count=1, empirical_policy={"retries": 2, "retry_delay": 60})
        propose(run, "FAILED")
        result = propose(run, "RUNNING")
        assert result.status == "WAIT" and 59 <= result.details["delay_seconds"] <= 60


class TestTaskRetries:
    def test_a_failed_task_retries_as_retrying(self, make_task_run):
        task = make_task_run("PENDING", empirical_policy={"retries": 1, "retry_delay": 0})
        propose(task, "RUNNING")
        retry = propose(task, "FAILED")
        assert (retry.status, retry.state.name) == ("REJECT", "AwaitingRetry")
        rerun = propose(task, "RUNNING")
        assert (rerun.status, rerun.state.name) == ("ACCEPT", "Retrying")
        assert propose(task, "FAILED").status == "ACCEPT"
        assert reload(task).run_count == 2

    def test_tasks_of_a_finished_flow_run_cannot_start(self, make_task_run):
        task = make_task_run("PENDING", flow_run_state="COMPLETED")
        result = propose(task, "RUNNING")
        assert (result.status, result.state.type) == ("ABORT", "PENDING")


class TestTerminalStateProtection:
    def test_a_completed_run_with_a_result_cannot_run_again(self, make_flow_run):
        run = make_flow_run("COMPLETED", data=RESULT)
        result = propose(run, "RUNNING")
        assert (result.status, result.created, result.state.type) == ("REJECT", False, "COMPLETED")

    def test_a_late_crash_report_does_not_overwrite_a_completed_task(self, make_task_run):
        task = make_task_run("COMPLETED")
        result = propose(task, "CRASHED")
        assert result.status == "ABORT"
        assert reload(task).state_type == "COMPLETED"


class TestForce:
    def test_force_skips_the_policy(self, make_flow_run):
        run = make_flow_run("RUNNING", run_count=1)
        result = propose(run, "PENDING", force=True)
        assert (result.status, result.created) == ("ACCEPT", True)
        assert reload(run).state_type == "PENDING"

    def test_force_still_does_the_bookkeeping(self, make_flow_run):
        run = make_flow_run("CANCELLING", start_time=timezone.now() - timedelta(seconds=5))
        result = propose(run, "CANCELLED", "Cancelled", force=True, message="Flow run was cancelled successfully.")
        run = reload(run)
        assert (run.state_type, run.state_name, run.end_time) == ("CANCELLED", "Cancelled", result.state.timestamp)

    def test_force_still_cancels_a_run_without_a_process_directly(self, make_flow_run):
        result = propose(make_flow_run("SCHEDULED"), "CANCELLING", force=True)
        assert (result.status, result.state.type) == ("REJECT", "CANCELLED")

    def test_force_still_keeps_a_stored_result(self, make_flow_run):
        result = propose(make_flow_run("COMPLETED", data=RESULT), "COMPLETED", force=True)
        assert (result.status, result.created) == ("REJECT", False)

    def test_force_on_a_task_run_skips_its_policy(self, make_task_run):
        task = make_task_run("PENDING", flow_run_state="COMPLETED")
        assert propose(task, "RUNNING", force=True).status == "ACCEPT"


class TestSubflowMirroring:
    @pytest.fixture
    def subflow(self, make_flow_run, make_task_run):
        parent = make_flow_run("RUNNING")
        placeholder = make_task_run("PENDING", flow_run=parent)
        child = make_flow_run(None, parent_task_run=placeholder)
        return parent, placeholder, child

    def test_each_subflow_state_is_mirrored_onto_the_parent_task_run(self, subflow):
        parent, placeholder, child = subflow
        propose(child, "PENDING")
        result = propose(child, "RUNNING")
        placeholder = reload(placeholder)
        assert (placeholder.state_type, placeholder.state_name, placeholder.run_count) == ("RUNNING", "Running", 1)
        mirrored = placeholder.state.state_details
        assert mirrored["child_flow_run_id"] == str(child.id)
        assert (mirrored["task_run_id"], mirrored["flow_run_id"]) == (str(placeholder.id), str(parent.id))
        assert placeholder.state.pk != result.state.pk
        assert result.state.state_details["task_run_id"] == str(placeholder.id)
        assert state_count(placeholder) == 3

    def test_a_replacement_state_is_mirrored_too(self, subflow):
        _, placeholder, child = subflow
        FlowRun.objects.filter(pk=child.pk).update(empirical_policy={"retries": 1})
        propose(child, "RUNNING")
        propose(child, "FAILED")
        assert reload(placeholder).state_name == "AwaitingRetry"

    def test_nothing_is_mirrored_when_nothing_is_written(self, subflow):
        _, placeholder, child = subflow
        propose(child, "SCHEDULED", state_details={"scheduled_time": iso_in(60)})
        count = state_count(placeholder)
        assert propose(child, "RUNNING").status == "WAIT"
        assert state_count(placeholder) == count


class TestEvents:
    def test_a_written_flow_run_state_publishes_its_event(self, make_flow_run, recorded_events):
        run = make_flow_run("PENDING")
        before = reload(run).state
        result = propose(run, "RUNNING")
        (event,) = recorded_events
        assert event["id"] == str(result.state.id)
        assert event["follows"] == str(before.id)
        assert event["event"] == "prefect.flow-run.Running"

    @pytest.mark.parametrize("state,proposed", [("COMPLETED", "CANCELLING"), ("CANCELLING", "COMPLETED")])
    def test_no_event_when_nothing_is_written(self, make_flow_run, recorded_events, state, proposed):
        propose(make_flow_run(state), proposed)
        assert recorded_events == []

    def test_task_run_states_publish_nothing(self, make_task_run, recorded_events):
        propose(make_task_run("PENDING"), "RUNNING")
        assert recorded_events == []

    def test_events_are_stored_in_the_same_transaction(self, make_flow_run, monkeypatch):
        def fail(event):
            raise RuntimeError("storage down")

        monkeypatch.setattr(engine, "publish_event", fail)
        run = make_flow_run("PENDING")
        with pytest.raises(RuntimeError):
            propose(run, "RUNNING")
        assert (reload(run).state_type, state_count(run)) == ("PENDING", 1)


class TestTaskRunNotFound:
    def test_an_unknown_task_run_is_not_found(self, db):
        with pytest.raises(NotFound):
            orchestrate_task_run(task_run_id=uuid.uuid4(), proposed={"type": "RUNNING"})
        assert not TaskRun.objects.exists()

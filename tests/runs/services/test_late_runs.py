"""The late-runs service: Scheduled runs past their time become Late, once."""

from datetime import timedelta

import pytest
from django.utils import timezone

from runs.domain.deployments import scheduled_state
from runs.domain.flow_runs import create_flow_run, set_flow_run_state
from runs.models import Flow, FlowRun
from runs.services.late_runs import mark_late_runs


def scheduled_run(minutes_from_now: float) -> FlowRun:
    flow, _ = Flow.objects.get_or_create(name="etl")
    run, _ = create_flow_run(flow_id=flow.id, state=scheduled_state(timezone.now() + timedelta(minutes=minutes_from_now)))
    return run


def state_of(run) -> tuple:
    run.refresh_from_db()
    return run.state_type, run.state_name


@pytest.mark.django_db
class TestMarkLateRuns:
    def test_an_overdue_scheduled_run_is_marked_late_keeping_its_time(self):
        run = scheduled_run(-5)
        scheduled_time = FlowRun.objects.get(id=run.id).next_scheduled_start_time
        assert mark_late_runs() == 1
        assert state_of(run) == ("SCHEDULED", "Late")
        run.refresh_from_db()
        assert run.next_scheduled_start_time == scheduled_time  # still handed out to workers

    def test_runs_within_the_grace_period_or_in_the_future_are_left_alone(self):
        soon, recent = scheduled_run(10), scheduled_run(-0.1)
        assert mark_late_runs() == 0
        assert state_of(soon) == state_of(recent) == ("SCHEDULED", "Scheduled")

    def test_a_second_pass_does_not_mark_a_run_twice(self):
        run = scheduled_run(-5)
        mark_late_runs()
        assert mark_late_runs() == 0
        assert run.states.filter(name="Late").count() == 1

    def test_a_run_picked_up_meanwhile_is_not_marked(self):
        run = scheduled_run(-5)
        set_flow_run_state(flow_run_id=run.id, state={"type": "PENDING"})
        assert mark_late_runs() == 0
        assert state_of(run) == ("PENDING", "Pending")

"""The scheduler service: upcoming runs created ahead of time, once per slot."""

import threading
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection, connections

from runs.domain import deployments as domain
from runs.models import Deployment, DeploymentSchedule, Flow, FlowRun, FlowRunState
from runs.services.scheduler import schedule_upcoming_runs

NOW = datetime(2026, 1, 1, 12, tzinfo=UTC)


def make_deployment(name="hourly", schedule=None, paused=False, **fields):
    flow, _ = Flow.objects.get_or_create(name="etl")
    deployment = Deployment.objects.create(flow=flow, name=name, paused=paused, **fields)
    DeploymentSchedule.objects.create(
        deployment=deployment, schedule=schedule or {"interval": 3600.0, "anchor_date": "2026-01-01T00:00:00Z",
                                                     "timezone": "UTC"},
    )
    return deployment


def auto_runs(deployment):
    return FlowRun.objects.filter(deployment_id=deployment.id, auto_scheduled=True).order_by("expected_start_time")


@pytest.mark.django_db
class TestSchedulerPass:
    def test_it_creates_the_upcoming_runs_in_the_scheduled_state(self):
        deployment = make_deployment(parameters={"x": 1}, tags=["nightly"])
        domain.schedule_runs(now=NOW)
        runs = list(auto_runs(deployment).select_related("state"))
        assert [run.expected_start_time for run in runs] == [NOW, NOW + timedelta(hours=1), NOW + timedelta(hours=2)]
        run = runs[0]
        assert (run.state_type, run.state_name, run.state.type, run.state.name) == (
            "SCHEDULED", "Scheduled", "SCHEDULED", "Scheduled")
        assert run.state.state_details["scheduled_time"] == "2026-01-01T12:00:00Z"
        assert run.next_scheduled_start_time == NOW
        assert (run.parameters, run.tags) == ({"x": 1}, ["nightly"])

    def test_scheduled_runs_queue_notifications_for_policies_on_scheduled(self):
        from notifications import policies
        from notifications.models import Delivery

        on_scheduled = policies.create_policy(state_names=["Scheduled"], tags=["nightly"], channel="slack",
                                              channel_config={"webhook_url": "https://hooks.example.com/x"})
        policies.create_policy(state_names=["Scheduled"], tags=["other"], channel="slack",
                               channel_config={"webhook_url": "https://hooks.example.com/y"})
        deployment = make_deployment(tags=["nightly"])
        domain.schedule_runs(now=NOW)
        deliveries = Delivery.objects.filter(policy=on_scheduled)
        assert sorted(d.flow_run_id for d in deliveries) == sorted(auto_runs(deployment).values_list("id", flat=True))
        assert Delivery.objects.count() == 3  # only the policy whose tag matches

    def test_a_second_pass_creates_nothing_new(self):
        deployment = make_deployment()
        assert domain.schedule_runs(now=NOW) == 3
        assert domain.schedule_runs(now=NOW) == 0
        assert auto_runs(deployment).count() == 3

    def test_a_later_pass_tops_up_the_window(self):
        deployment = make_deployment()
        domain.schedule_runs(now=NOW)
        domain.schedule_runs(now=NOW + timedelta(hours=1))
        assert auto_runs(deployment).count() == 4

    def test_paused_deployments_and_inactive_schedules_get_no_runs(self):
        paused = make_deployment(name="paused", paused=True)
        inactive = make_deployment(name="inactive")
        inactive.schedules.update(active=False)
        assert domain.schedule_runs(now=NOW) == 0
        assert not auto_runs(paused).exists() and not auto_runs(inactive).exists()

    def test_max_scheduled_runs_caps_a_schedule(self):
        deployment = make_deployment(schedule={"interval": 60.0, "anchor_date": "2026-01-01T00:00:00Z"})
        deployment.schedules.update(max_scheduled_runs=5)
        domain.schedule_runs(now=NOW)
        assert auto_runs(deployment).count() == 5

    def test_the_service_covers_every_deployment(self):
        first, second = make_deployment(name="a"), make_deployment(name="b")
        assert schedule_upcoming_runs() >= 6
        assert auto_runs(first).exists() and auto_runs(second).exists()

    def test_a_pass_that_raced_another_inserts_no_duplicates(self):
        # A pass that looked before another one committed tries to insert slots already taken.
        deployment = make_deployment()
        domain.schedule_runs(now=NOW)
        schedule = deployment.schedules.get()
        slots = [(run.idempotency_key, run.expected_start_time) for run in auto_runs(deployment)]
        assert domain.insert_scheduled_runs(schedule, slots, NOW) == 0
        assert auto_runs(deployment).count() == 3
        assert FlowRunState.objects.filter(flow_run__deployment_id=deployment.id).count() == 3


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(connection.vendor != "postgresql", reason="needs concurrent connections (PostgreSQL)")
class TestConcurrentSchedulerPasses:
    def test_two_passes_at_once_create_each_slot_once(self):
        deployment = make_deployment(schedule={"interval": 60.0, "anchor_date": "2026-01-01T00:00:00Z"})
        barrier = threading.Barrier(4)
        errors = []

        def one_pass():
            try:
                barrier.wait()
                domain.schedule_runs(now=NOW)
            except Exception as exc:  # surfaced by the assertion below
                errors.append(exc)
            finally:
                connections.close_all()

        threads = [threading.Thread(target=one_pass) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert errors == []
        times = list(auto_runs(deployment).values_list("expected_start_time", flat=True))
        assert len(times) == len(set(times)) == 61
        assert FlowRunState.objects.filter(flow_run__deployment_id=deployment.id).count() == 61

"""The foreman (worker, pool, queue and deployment status) and crashed-run detection."""

import uuid
from datetime import timedelta

import pytest
from django.utils import timezone

from runs.domain import flow_runs, work_pools
from runs.domain.events import record_events
from runs.models import Deployment, Flow, FlowRun, WorkPool, WorkQueue, Worker
from runs.services import crashed_runs, foreman

pytestmark = pytest.mark.django_db


def ago(**delta):
    return timezone.now() - timedelta(**delta)


@pytest.fixture
def pool():
    return work_pools.create_work_pool(name="pool-a", type="process")


def worker(pool, name="w1", last_heartbeat=None, interval=30):
    work_pools.record_worker_heartbeat(work_pool_name=pool.name, worker_name=name, heartbeat_interval_seconds=interval)
    if last_heartbeat is not None:
        Worker.objects.filter(work_pool=pool, name=name).update(last_heartbeat_time=last_heartbeat)
    return Worker.objects.get(work_pool=pool, name=name)


class TestWorkerStatus:
    def test_a_worker_that_missed_three_heartbeats_goes_offline(self, pool):
        stale = worker(pool, "stale", last_heartbeat=ago(seconds=91), interval=30)
        fresh = worker(pool, "fresh", last_heartbeat=ago(seconds=80), interval=30)
        foreman.run_foreman()
        stale.refresh_from_db()
        fresh.refresh_from_db()
        assert (stale.status, fresh.status) == ("OFFLINE", "ONLINE")

    def test_a_worker_without_an_interval_uses_the_fallback(self, pool, monkeypatch):
        monkeypatch.setenv("PREFECT_SERVER_SERVICES_FOREMAN_FALLBACK_HEARTBEAT_INTERVAL_SECONDS", "10")
        quiet = worker(pool, last_heartbeat=ago(seconds=31), interval=None)
        foreman.run_foreman()
        quiet.refresh_from_db()
        assert quiet.status == "OFFLINE"


class TestPoolStatus:
    def test_a_pool_whose_last_worker_went_offline_is_not_ready(self, pool):
        worker(pool, last_heartbeat=ago(minutes=10))
        assert WorkPool.objects.get(id=pool.id).status == "READY"
        changes = foreman.run_foreman()
        assert WorkPool.objects.get(id=pool.id).status == "NOT_READY"
        assert changes["pools_not_ready"] == 1

    def test_a_pool_with_an_online_worker_stays_ready(self, pool):
        worker(pool, "old", last_heartbeat=ago(minutes=10))
        worker(pool, "new")
        foreman.run_foreman()
        assert WorkPool.objects.get(id=pool.id).status == "READY"

    def test_a_paused_pool_stays_paused(self, pool):
        work_pools.update_work_pool(name=pool.name, is_paused=True)
        worker(pool, last_heartbeat=ago(minutes=10))
        foreman.run_foreman()
        assert WorkPool.objects.get(id=pool.id).status == "PAUSED"


class TestQueueAndDeploymentStatus:
    def test_queues_and_deployments_not_polled_recently_are_not_ready(self, pool):
        queue = WorkQueue.objects.get(id=pool.default_queue_id)
        flow = Flow.objects.create(name="f")
        deployment = Deployment.objects.create(flow=flow, name="d", work_queue=queue)
        work_pools.mark_polled([queue])
        foreman.run_foreman()
        assert WorkQueue.objects.get(id=queue.id).status == "READY"
        assert Deployment.objects.get(id=deployment.id).status == "READY"

        WorkQueue.objects.filter(id=queue.id).update(last_polled=ago(seconds=61))
        Deployment.objects.filter(id=deployment.id).update(last_polled=ago(seconds=61))
        foreman.run_foreman()
        assert WorkQueue.objects.get(id=queue.id).status == "NOT_READY"
        assert Deployment.objects.get(id=deployment.id).status == "NOT_READY"

    def test_the_poll_timeout_is_configurable(self, pool, monkeypatch):
        monkeypatch.setenv("PREFECT_SERVER_SERVICES_FOREMAN_WORK_QUEUE_LAST_POLLED_TIMEOUT_SECONDS", "600")
        queue = WorkQueue.objects.get(id=pool.default_queue_id)
        work_pools.mark_polled([queue])
        WorkQueue.objects.filter(id=queue.id).update(last_polled=ago(seconds=120))
        foreman.run_foreman()
        assert WorkQueue.objects.get(id=queue.id).status == "READY"


def running_run(started_minutes_ago=30):
    flow, _ = Flow.objects.get_or_create(name="f")
    run, _ = flow_runs.create_flow_run(flow_id=flow.id)
    result = flow_runs.set_flow_run_state(flow_run_id=run.id, state={"type": "RUNNING", "name": "Running"})
    assert result.status == "ACCEPT"
    FlowRun.objects.filter(id=run.id).update(state_timestamp=ago(minutes=started_minutes_ago))
    return run


def heartbeat(run, minutes_ago):
    record_events([{
        "id": str(uuid.uuid4()),
        "occurred": ago(minutes=minutes_ago).isoformat(),
        "event": "prefect.flow-run.heartbeat",
        "resource": {"prefect.resource.id": f"prefect.flow-run.{run.id}"},
        "related": [],
        "payload": {},
    }])


def state_of(run):
    run = FlowRun.objects.get(id=run.id)
    return run.state_type, run.state_name


class TestCrashedRunDetection:
    def test_a_running_run_whose_heartbeats_stopped_is_crashed(self):
        silent = running_run()
        heartbeat(silent, minutes_ago=25)
        heartbeat(silent, minutes_ago=15)
        alive = running_run()
        heartbeat(alive, minutes_ago=2)
        assert crashed_runs.run_crashed_run_detection()["crashed"] == 1
        assert state_of(silent) == ("CRASHED", "Crashed")
        assert state_of(alive) == ("RUNNING", "Running")
        assert "heartbeat" in FlowRun.objects.get(id=silent.id).state.message

    def test_a_run_that_never_sent_a_heartbeat_is_left_alone(self):
        quiet = running_run()
        crashed_runs.run_crashed_run_detection()
        assert state_of(quiet) == ("RUNNING", "Running")

    def test_the_timeout_is_configurable(self, monkeypatch):
        monkeypatch.setenv("PREFECT_SERVER_SERVICES_CRASHED_RUNS_HEARTBEAT_TIMEOUT_SECONDS", "3600")
        run = running_run(started_minutes_ago=120)
        heartbeat(run, minutes_ago=30)
        crashed_runs.run_crashed_run_detection()
        assert state_of(run) == ("RUNNING", "Running")
        monkeypatch.setenv("PREFECT_SERVER_SERVICES_CRASHED_RUNS_HEARTBEAT_TIMEOUT_SECONDS", "60")
        crashed_runs.run_crashed_run_detection()
        assert state_of(run)[0] == "CRASHED"

    def test_a_finished_run_is_not_touched(self):
        run = running_run()
        heartbeat(run, minutes_ago=20)
        flow_runs.set_flow_run_state(flow_run_id=run.id, state={"type": "COMPLETED", "name": "Completed"})
        crashed_runs.run_crashed_run_detection()
        assert state_of(run)[0] == "COMPLETED"


class TestAbandonedCancellations:
    def cancelling_run(self, minutes_ago):
        run = running_run()
        result = flow_runs.set_flow_run_state(flow_run_id=run.id, state={"type": "CANCELLING", "name": "Cancelling"})
        assert result.status == "ACCEPT"
        FlowRun.objects.filter(id=run.id).update(state_timestamp=ago(minutes=minutes_ago))
        return run

    def test_a_cancellation_nobody_finished_ends_cancelled(self):
        stuck = self.cancelling_run(minutes_ago=10)
        recent = self.cancelling_run(minutes_ago=1)
        assert crashed_runs.run_crashed_run_detection()["cancelled"] == 1
        assert state_of(stuck) == ("CANCELLED", "Cancelled")
        assert state_of(recent)[0] == "CANCELLING"

    def test_a_cancelling_run_that_still_heartbeats_is_left_to_its_worker(self):
        run = self.cancelling_run(minutes_ago=10)
        heartbeat(run, minutes_ago=1)
        crashed_runs.run_crashed_run_detection()
        assert state_of(run)[0] == "CANCELLING"


class TestStatusEvents:
    def events(self, name):
        from runs.models import Event

        return list(Event.objects.filter(event=name).values_list("resource_id", flat=True))

    def test_each_status_change_is_announced_once(self, pool):
        worker(pool, last_heartbeat=ago(minutes=10))
        queue = WorkQueue.objects.get(id=pool.default_queue_id)
        flow = Flow.objects.create(name="f")
        deployment = Deployment.objects.create(flow=flow, name="d", work_queue=queue)
        work_pools.mark_polled([queue])
        assert self.events("prefect.work-pool.ready") == [f"prefect.work-pool.{pool.id}"]
        assert self.events("prefect.work-queue.ready") == [f"prefect.work-queue.{queue.id}"]
        assert self.events("prefect.deployment.ready") == [f"prefect.deployment.{deployment.id}"]

        WorkQueue.objects.filter(id=queue.id).update(last_polled=ago(minutes=5))
        Deployment.objects.filter(id=deployment.id).update(last_polled=ago(minutes=5))
        at_creation = len(self.events("prefect.work-pool.not-ready"))  # a new pool announces NOT_READY
        foreman.run_foreman()
        foreman.run_foreman()  # nothing left to change: no second announcement
        assert len(self.events("prefect.work-pool.not-ready")) == at_creation + 1
        assert self.events("prefect.work-queue.not-ready") == [f"prefect.work-queue.{queue.id}"]
        assert self.events("prefect.deployment.not-ready") == [f"prefect.deployment.{deployment.id}"]

    def test_pausing_a_pool_is_announced(self, pool):
        work_pools.update_work_pool(name=pool.name, is_paused=True)
        assert self.events("prefect.work-pool.paused") == [f"prefect.work-pool.{pool.id}"]

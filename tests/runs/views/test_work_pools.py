"""The work pool pages: status, queues, workers with their last heartbeat, Late runs, pause/resume."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from runs.domain import flow_runs, work_pools
from runs.models import FlowRun, WorkPool


@pytest.fixture
def pool(db):
    pool = work_pools.create_work_pool(name="pool-a", type="process")
    work_pools.record_worker_heartbeat(work_pool_name="pool-a", worker_name="worker-1", heartbeat_interval_seconds=30)
    work_pools.create_work_queue(work_pool_name="pool-a", name="urgent", concurrency_limit=2)
    return pool


@pytest.fixture
def late_run(records, pool):
    run = records.flow_run(states=())
    queue = work_pools.read_work_queue(work_pool_name="pool-a", name="urgent")
    FlowRun.objects.filter(id=run.id).update(work_queue_id=queue.id, work_queue_name=queue.name)
    flow_runs.set_flow_run_state(flow_run_id=run.id, state={
        "type": "SCHEDULED", "name": "Late", "state_details": {"scheduled_time": (timezone.now() - timedelta(minutes=5)).isoformat()},
    }, force=True)
    return run


class TestWorkPoolList:
    def test_it_lists_pools_with_status_workers_and_late_runs(self, client, late_run):
        page = client.get("/work-pools/").content.decode()
        assert reverse("dashboard:work-pool", args=["pool-a"]) in page
        assert "Ready" in page and "1 / 1" in page
        assert "<strong>1</strong>" in page  # the late run

    def test_it_is_reached_from_the_navigation(self, client, db):
        assert reverse("dashboard:work-pools") in client.get("/").content.decode()

    def test_with_no_pools_it_says_how_to_create_one(self, client, db):
        assert "prefect work-pool create" in client.get("/work-pools/").content.decode()

    def test_the_query_count_does_not_grow_with_the_number_of_pools(self, client, pool):
        work_pools.update_work_pool(name="pool-a", concurrency_limit=3)
        with CaptureQueriesContext(connection) as one_pool:
            client.get("/work-pools/")
        for index in range(5):
            work_pools.create_work_pool(name=f"more-{index}", concurrency_limit=3)
            work_pools.record_worker_heartbeat(work_pool_name=f"more-{index}", worker_name="w")
        with CaptureQueriesContext(connection) as many_pools:
            client.get("/work-pools/")
        assert len(many_pools) == len(one_pool)

    def test_the_table_alone_is_sent_to_htmx_refreshes(self, htmx_client, pool):
        body = htmx_client.fragment("/work-pools/", "work-pool-table").content.decode()
        assert body.lstrip().startswith('<div id="work-pool-table"') and "<html" not in body


class TestWorkPoolPage:
    def test_it_shows_queues_workers_and_late_runs(self, client, late_run):
        page = client.get(reverse("dashboard:work-pool", args=["pool-a"])).content.decode()
        assert "urgent" in page and "default" in page
        assert "worker-1" in page and "Online" in page
        assert reverse("dashboard:flow-run", args=[late_run.id]) in page
        assert "0 / 2" in page  # the urgent queue's slots

    def test_a_missing_pool_is_not_found(self, client, db):
        assert client.get(reverse("dashboard:work-pool", args=["nope"])).status_code == 404

    def test_pause_and_resume(self, client, pool):
        response = client.post(reverse("dashboard:work-pool-pause", args=["pool-a"]))
        assert response.status_code == 302
        assert WorkPool.objects.get(name="pool-a").status == "PAUSED"
        client.post(reverse("dashboard:work-pool-resume", args=["pool-a"]))
        assert WorkPool.objects.get(name="pool-a").status == "READY"

    def test_pausing_needs_a_post_with_a_csrf_token(self, csrf_client, pool):
        assert csrf_client.get(reverse("dashboard:work-pool-pause", args=["pool-a"])).status_code == 405
        assert csrf_client.post(reverse("dashboard:work-pool-pause", args=["pool-a"])).status_code == 403
        assert not WorkPool.objects.get(name="pool-a").is_paused

    def test_names_are_escaped(self, client, db):
        work_pools.create_work_pool(name="evil\"pool'x", description="<script>alert(1)</script>")
        page = client.get(reverse("dashboard:work-pool", args=["evil\"pool'x"])).content.decode()
        assert "<script>alert(1)</script>" not in page

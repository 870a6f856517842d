"""Work pools, queues, workers and scheduled-run pickup over the JSON API."""

from datetime import datetime, timedelta, timezone

import pytest

from runs.models import Deployment, FlowRun, WorkPool, WorkQueue, Worker

PROCESS_TEMPLATE = {
    "job_configuration": {"command": "{{ command }}", "env": "{{ env }}"},
    "variables": {"type": "object", "properties": {"command": {"type": "string"}, "env": {"type": "object"}}},
}


def iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


@pytest.fixture
def pool(api):
    response = api.post("/work_pools/", {"name": "pool-a", "type": "process", "base_job_template": PROCESS_TEMPLATE})
    assert response.status_code == 201, response.data
    return response.data


@pytest.fixture
def scheduled_run(api, flow, pool):
    """A Scheduled run in a queue of `pool`, due at the given offset from now."""

    def make(queue_name="default", seconds_from_now=-5, name=None):
        queue = WorkQueue.objects.get(work_pool__name=pool["name"], name=queue_name)
        when = datetime.now(timezone.utc) + timedelta(seconds=seconds_from_now)
        body = {
            "flow_id": flow["id"],
            "state": {"type": "SCHEDULED", "name": "Scheduled", "state_details": {"scheduled_time": iso(when)}},
        }
        if name:
            body["name"] = name
        response = api.post("/flow_runs/", body)
        assert response.status_code == 201, response.data
        FlowRun.objects.filter(id=response.data["id"]).update(work_queue_id=queue.id, work_queue_name=queue.name)
        return response.data

    return make


def set_state(api, run_id, state_type, name=None, force=True):
    response = api.post(f"/flow_runs/{run_id}/set_state", {"state": {"type": state_type, "name": name}, "force": force})
    assert response.data["status"] == "ACCEPT", response.data


class TestCreateWorkPool:
    def test_it_creates_the_pool_with_a_default_queue(self, api, pool):
        assert pool["type"] == "process"
        assert pool["status"] == "NOT_READY"
        assert pool["is_paused"] is False
        assert pool["active_slots"] is None
        assert pool["storage_configuration"] == {
            "bundle_upload_step": None, "bundle_execution_step": None, "default_result_storage_block_id": None,
        }
        queue = WorkQueue.objects.get(id=pool["default_queue_id"])
        assert (queue.name, queue.priority) == ("default", 1)

    def test_a_duplicate_name_is_a_conflict(self, api, pool):
        response = api.post("/work_pools/", {"name": "pool-a"})
        assert response.status_code == 409
        assert WorkPool.objects.count() == 1

    def test_names_starting_with_prefect_are_reserved(self, api, db):
        response = api.post("/work_pools/", {"name": "Prefect-managed"})
        assert response.status_code == 403
        assert "detail" in response.data

    @pytest.mark.parametrize("name", ["a/b", "50%", "x&y", "", "<pool>"])
    def test_a_name_with_forbidden_characters_is_rejected(self, api, db, name):
        assert api.post("/work_pools/", {"name": name}).status_code == 422
        assert not WorkPool.objects.exists()

    def test_a_template_using_undeclared_variables_is_rejected(self, api, db):
        template = {"job_configuration": {"image": "{{ image }}"}, "variables": {"properties": {}}}
        response = api.post("/work_pools/", {"name": "bad", "base_job_template": template})
        assert response.status_code == 422
        assert "image" in response.data["detail"]
        assert not WorkPool.objects.exists()

    def test_a_negative_concurrency_limit_is_rejected(self, api, db):
        assert api.post("/work_pools/", {"name": "p", "concurrency_limit": -1}).status_code == 422

    def test_a_paused_pool_starts_paused(self, api, db):
        response = api.post("/work_pools/", {"name": "p", "is_paused": True})
        assert response.data["status"] == "PAUSED"


class TestReadWorkPools:
    def test_reading_a_missing_pool_is_not_found(self, api, db):
        response = api.get("/work_pools/nope")
        assert response.status_code == 404
        assert "nope" in response.data["detail"]

    def test_filter_accepts_nulls_as_not_provided(self, api, pool):
        response = api.post("/work_pools/filter", {"limit": None, "offset": 0, "work_pools": None})
        assert response.status_code == 200
        assert [p["name"] for p in response.data] == ["pool-a"]

    def test_filter_by_name_and_type(self, api, pool):
        api.post("/work_pools/", {"name": "pool-b", "type": "docker"})
        by_type = api.post("/work_pools/filter", {"work_pools": {"type": {"any_": ["docker"]}}}).data
        assert [p["name"] for p in by_type] == ["pool-b"]
        by_name = api.post("/work_pools/filter", {"work_pools": {"name": {"any_": ["pool-a", "zzz"]}}}).data
        assert [p["name"] for p in by_name] == ["pool-a"]

    def test_count(self, api, pool):
        api.post("/work_pools/", {"name": "pool-b"})
        assert api.post("/work_pools/count", {"work_pools": None}).data == 2
        assert api.post("/work_pools/count", {}).data == 2

    def test_active_slots_count_runs_in_progress_when_limited(self, api, pool, scheduled_run):
        api.patch("/work_pools/pool-a", {"concurrency_limit": 3})
        run = scheduled_run()
        set_state(api, run["id"], "RUNNING")
        assert api.get("/work_pools/pool-a").data["active_slots"] == 1


class TestUpdateWorkPool:
    def test_pausing_sets_the_status_and_resuming_clears_it(self, api, pool):
        assert api.patch("/work_pools/pool-a", {"is_paused": True}).status_code == 204
        assert api.get("/work_pools/pool-a").data["status"] == "PAUSED"
        api.patch("/work_pools/pool-a", {"is_paused": False})
        assert api.get("/work_pools/pool-a").data["status"] == "NOT_READY"

    def test_resuming_a_pool_with_an_online_worker_makes_it_ready(self, api, pool):
        api.patch("/work_pools/pool-a", {"is_paused": True})
        api.post("/work_pools/pool-a/workers/heartbeat", {"name": "w"})
        assert api.get("/work_pools/pool-a").data["status"] == "PAUSED"
        api.patch("/work_pools/pool-a", {"is_paused": False})
        assert api.get("/work_pools/pool-a").data["status"] == "READY"

    def test_a_null_concurrency_limit_removes_the_limit(self, api, pool):
        api.patch("/work_pools/pool-a", {"concurrency_limit": 2})
        assert api.get("/work_pools/pool-a").data["concurrency_limit"] == 2
        api.patch("/work_pools/pool-a", {"concurrency_limit": None})
        assert api.get("/work_pools/pool-a").data["concurrency_limit"] is None

    def test_fields_not_sent_are_left_alone(self, api, pool):
        api.patch("/work_pools/pool-a", {"description": "nightly"})
        data = api.get("/work_pools/pool-a").data
        assert data["description"] == "nightly"
        assert data["base_job_template"] == PROCESS_TEMPLATE

    def test_updating_a_missing_pool_is_not_found(self, api, db):
        assert api.patch("/work_pools/nope", {"description": "x"}).status_code == 404


class TestDeleteWorkPool:
    def test_it_deletes_the_pool_with_its_queues_and_workers(self, api, pool):
        api.post("/work_pools/pool-a/workers/heartbeat", {"name": "w"})
        assert api.delete("/work_pools/pool-a").status_code == 204
        assert not WorkPool.objects.exists()
        assert not WorkQueue.objects.exists()
        assert not Worker.objects.exists()
        assert api.delete("/work_pools/pool-a").status_code == 404


class TestWorkQueuesOfAPool:
    def test_a_new_queue_goes_last_without_a_priority(self, api, pool):
        response = api.post("/work_pools/pool-a/queues", {"name": "high"})
        assert response.status_code == 201
        assert response.data["priority"] == 2
        assert response.data["work_pool_name"] == "pool-a"
        assert response.data["status"] == "NOT_READY"

    def test_a_given_priority_moves_the_others_down(self, api, pool):
        api.post("/work_pools/pool-a/queues", {"name": "second"})
        api.post("/work_pools/pool-a/queues", {"name": "first", "priority": 1})
        queues = api.post("/work_pools/pool-a/queues/filter", {"work_queues": None, "limit": None, "offset": None}).data
        assert [(q["name"], q["priority"]) for q in queues] == [("first", 1), ("default", 2), ("second", 3)]

    def test_changing_a_priority_keeps_priorities_distinct(self, api, pool):
        api.post("/work_pools/pool-a/queues", {"name": "b"})
        api.post("/work_pools/pool-a/queues", {"name": "c"})
        assert api.patch("/work_pools/pool-a/queues/c", {"priority": 1}).status_code == 204
        queues = api.post("/work_pools/pool-a/queues/filter", {}).data
        assert [(q["name"], q["priority"]) for q in queues] == [("c", 1), ("default", 2), ("b", 3)]

    def test_a_duplicate_queue_name_is_a_conflict(self, api, pool):
        assert api.post("/work_pools/pool-a/queues", {"name": "default"}).status_code == 409

    def test_a_queue_in_a_missing_pool_is_not_found(self, api, db):
        assert api.post("/work_pools/nope/queues", {"name": "q"}).status_code == 404
        assert api.get("/work_pools/nope/queues/q").status_code == 404

    def test_pausing_a_queue(self, api, pool):
        api.patch("/work_pools/pool-a/queues/default", {"is_paused": True})
        data = api.get("/work_pools/pool-a/queues/default").data
        assert (data["is_paused"], data["status"]) == (True, "PAUSED")

    def test_the_default_queue_cannot_be_deleted(self, api, pool):
        response = api.delete("/work_pools/pool-a/queues/default")
        assert response.status_code == 409
        assert WorkQueue.objects.filter(name="default").exists()

    def test_deleting_a_queue_closes_the_priority_gap(self, api, pool):
        api.post("/work_pools/pool-a/queues", {"name": "b"})
        api.post("/work_pools/pool-a/queues", {"name": "c"})
        assert api.delete("/work_pools/pool-a/queues/b").status_code == 204
        queues = api.post("/work_pools/pool-a/queues/filter", {}).data
        assert [(q["name"], q["priority"]) for q in queues] == [("default", 1), ("c", 2)]

    def test_filter_by_name_prefix(self, api, pool):
        api.post("/work_pools/pool-a/queues", {"name": "Critical-1"})
        queues = api.post("/work_pools/pool-a/queues/filter", {"work_queues": {"name": {"startswith_": ["crit"]}}}).data
        assert [q["name"] for q in queues] == ["Critical-1"]


class TestWorkers:
    def test_a_heartbeat_registers_the_worker_and_makes_the_pool_ready(self, api, pool):
        response = api.post("/work_pools/pool-a/workers/heartbeat", {"name": "w1", "heartbeat_interval_seconds": 30})
        assert response.status_code == 204
        workers = api.post(
            "/work_pools/pool-a/workers/filter", {"workers": {"status": {"any_": ["ONLINE"]}}, "offset": None, "limit": None}
        ).data
        assert [(w["name"], w["status"], w["heartbeat_interval_seconds"]) for w in workers] == [("w1", "ONLINE", 30)]
        assert api.get("/work_pools/pool-a").data["status"] == "READY"

    def test_a_second_heartbeat_updates_the_same_worker(self, api, pool):
        api.post("/work_pools/pool-a/workers/heartbeat", {"name": "w1"})
        first = Worker.objects.get().last_heartbeat_time
        api.post("/work_pools/pool-a/workers/heartbeat", {"name": "w1", "heartbeat_interval_seconds": 10})
        worker = Worker.objects.get()
        assert worker.last_heartbeat_time > first
        assert worker.heartbeat_interval_seconds == 10

    def test_a_heartbeat_can_return_the_worker_id(self, api, pool):
        response = api.post("/work_pools/pool-a/workers/heartbeat", {"name": "w1", "return_id": True})
        assert response.status_code == 200
        assert response.data == str(Worker.objects.get().id)

    def test_a_heartbeat_keeps_a_paused_pool_paused(self, api, pool):
        api.patch("/work_pools/pool-a", {"is_paused": True})
        api.post("/work_pools/pool-a/workers/heartbeat", {"name": "w1"})
        assert api.get("/work_pools/pool-a").data["status"] == "PAUSED"

    def test_a_heartbeat_for_a_missing_pool_is_not_found(self, api, db):
        assert api.post("/work_pools/nope/workers/heartbeat", {"name": "w1"}).status_code == 404
        assert not WorkPool.objects.exists()

    def test_a_heartbeat_without_a_name_is_rejected(self, api, pool):
        assert api.post("/work_pools/pool-a/workers/heartbeat", {}).status_code == 422

    def test_filter_by_status_excludes_offline_workers(self, api, pool):
        api.post("/work_pools/pool-a/workers/heartbeat", {"name": "w1"})
        api.post("/work_pools/pool-a/workers/heartbeat", {"name": "w2"})
        Worker.objects.filter(name="w2").update(status="OFFLINE")
        online = api.post("/work_pools/pool-a/workers/filter", {"workers": {"status": {"any_": ["ONLINE"]}}}).data
        assert [w["name"] for w in online] == ["w1"]

    def test_deleting_a_worker(self, api, pool):
        api.post("/work_pools/pool-a/workers/heartbeat", {"name": "w1"})
        assert api.delete("/work_pools/pool-a/workers/w1").status_code == 204
        assert api.delete("/work_pools/pool-a/workers/w1").status_code == 404


class TestGetScheduledFlowRuns:
    def poll(self, api, body=None, pool_name="pool-a"):
        body = body or {"work_queue_names": [], "scheduled_before": str(datetime.now(timezone.utc) + timedelta(seconds=10))}
        response = api.post(f"/work_pools/{pool_name}/get_scheduled_flow_runs", body)
        assert response.status_code == 200, response.data
        return response.data

    def test_it_returns_due_runs_with_their_pool_and_queue(self, api, pool, scheduled_run):
        run = scheduled_run()
        scheduled_run(seconds_from_now=3600)  # not due yet
        picked = self.poll(api)
        assert [p["flow_run"]["id"] for p in picked] == [run["id"]]
        assert picked[0]["work_pool_id"] == pool["id"]
        assert picked[0]["work_queue_id"] == pool["default_queue_id"]

    def test_it_accepts_the_clients_space_separated_datetime(self, api, pool, scheduled_run):
        run = scheduled_run()
        body = {"work_queue_names": [], "scheduled_before": "2099-01-01 00:00:00.000001+00:00"}
        assert [p["flow_run"]["id"] for p in self.poll(api, body)] == [run["id"]]

    def test_runs_not_scheduled_are_skipped(self, api, pool, scheduled_run):
        run = scheduled_run()
        set_state(api, run["id"], "PENDING")
        assert self.poll(api) == []

    def test_higher_priority_queues_come_first_then_earlier_runs(self, api, pool, scheduled_run):
        api.post("/work_pools/pool-a/queues", {"name": "urgent", "priority": 1})
        late_default = scheduled_run(seconds_from_now=-60)
        urgent = scheduled_run(queue_name="urgent", seconds_from_now=-1)
        early_default = scheduled_run(seconds_from_now=-120)
        ids = [p["flow_run"]["id"] for p in self.poll(api)]
        assert ids == [urgent["id"], early_default["id"], late_default["id"]]

    def test_only_the_named_queues_are_searched(self, api, pool, scheduled_run):
        api.post("/work_pools/pool-a/queues", {"name": "other"})
        wanted = scheduled_run(queue_name="other")
        scheduled_run()
        body = {"work_queue_names": ["other"], "scheduled_before": iso(datetime.now(timezone.utc))}
        assert [p["flow_run"]["id"] for p in self.poll(api, body)] == [wanted["id"]]

    def test_a_missing_queue_name_is_not_found(self, api, pool):
        response = api.post("/work_pools/pool-a/get_scheduled_flow_runs", {"work_queue_names": ["nope"]})
        assert response.status_code == 404

    def test_a_paused_pool_or_queue_gives_nothing(self, api, pool, scheduled_run):
        scheduled_run()
        api.patch("/work_pools/pool-a/queues/default", {"is_paused": True})
        assert self.poll(api) == []
        api.patch("/work_pools/pool-a/queues/default", {"is_paused": False})
        api.patch("/work_pools/pool-a", {"is_paused": True})
        assert self.poll(api) == []

    def test_the_pool_concurrency_limit_counts_runs_in_progress(self, api, pool, scheduled_run):
        api.patch("/work_pools/pool-a", {"concurrency_limit": 2})
        running = scheduled_run()
        set_state(api, running["id"], "RUNNING")
        first, second = scheduled_run(seconds_from_now=-20), scheduled_run(seconds_from_now=-10)
        assert [p["flow_run"]["id"] for p in self.poll(api)] == [first["id"]]
        assert second["id"] not in [p["flow_run"]["id"] for p in self.poll(api)]

    def test_the_queue_concurrency_limit_applies_per_queue(self, api, pool, scheduled_run):
        api.post("/work_pools/pool-a/queues", {"name": "one-at-a-time", "concurrency_limit": 1})
        busy = scheduled_run(queue_name="one-at-a-time")
        set_state(api, busy["id"], "RUNNING")
        blocked = scheduled_run(queue_name="one-at-a-time")
        free = scheduled_run()
        ids = [p["flow_run"]["id"] for p in self.poll(api)]
        assert free["id"] in ids and blocked["id"] not in ids

    def test_the_limit_caps_the_answer(self, api, pool, scheduled_run):
        for offset in (-30, -20, -10):
            scheduled_run(seconds_from_now=offset)
        body = {"scheduled_before": iso(datetime.now(timezone.utc)), "limit": 2}
        assert len(self.poll(api, body)) == 2

    def test_polling_marks_queues_and_deployments_ready(self, api, flow, pool):
        queue = WorkQueue.objects.get(id=pool["default_queue_id"])
        deployment = Deployment.objects.create(flow_id=flow["id"], name="d", work_queue=queue)
        self.poll(api)
        queue.refresh_from_db()
        deployment.refresh_from_db()
        assert queue.status == "READY" and queue.last_polled is not None
        assert deployment.status == "READY" and deployment.last_polled is not None

    def test_a_missing_pool_is_not_found(self, api, db):
        assert api.post("/work_pools/nope/get_scheduled_flow_runs", {}).status_code == 404


class TestPoolLessWorkQueues:
    def test_a_queue_created_without_a_pool_lives_in_the_default_agent_pool(self, api, db):
        response = api.post("/work_queues/", {"name": "legacy"})
        assert response.status_code == 201
        assert response.data["work_pool_name"] == "default-agent-pool"
        by_name = api.get("/work_queues/name/legacy").data
        by_id = api.get(f"/work_queues/{response.data['id']}").data
        assert by_name["id"] == by_id["id"] == response.data["id"]

    def test_update_and_delete_by_id(self, api, db):
        queue = api.post("/work_queues/", {"name": "legacy"}).data
        assert api.patch(f"/work_queues/{queue['id']}", {"concurrency_limit": 4}).status_code == 204
        assert api.get(f"/work_queues/{queue['id']}").data["concurrency_limit"] == 4
        assert api.delete(f"/work_queues/{queue['id']}").status_code == 204
        assert api.get(f"/work_queues/{queue['id']}").status_code == 404

    def test_filter_across_pools(self, api, pool):
        api.post("/work_queues/", {"name": "legacy"})
        names = {q["name"] for q in api.post("/work_queues/filter", {"work_queues": None, "limit": None}).data}
        assert {"legacy", "default"} <= names

    def test_status_reports_late_runs_and_polling(self, api, pool, scheduled_run):
        run = scheduled_run()
        set_state(api, run["id"], "SCHEDULED", name="Late")
        status = api.get(f"/work_queues/{pool['default_queue_id']}/status").data
        assert status["healthy"] is False
        assert status["late_runs_count"] == 1

    def test_get_runs_returns_the_queues_due_runs(self, api, pool, scheduled_run):
        run = scheduled_run()
        runs = api.post(f"/work_queues/{pool['default_queue_id']}/get_runs", {"scheduled_before": None, "limit": None}).data
        assert [r["id"] for r in runs] == [run["id"]]

    def test_a_missing_queue_id_is_not_found(self, api, db):
        assert api.get("/work_queues/00000000-0000-0000-0000-000000000000").status_code == 404
        assert api.get("/work_queues/not-a-uuid").status_code in (404, 422)


class TestWorkerMetadata:
    def test_it_describes_the_process_worker_type(self, api, db):
        response = api.get("/collections/views/aggregate-worker-metadata")
        assert response.status_code == 200
        types = {worker["type"] for collection in response.data.values() for worker in collection.values()}
        assert "process" in types

    def test_an_unknown_view_is_not_found(self, api, db):
        assert api.get("/collections/views/something-else").status_code == 404


class TestConcurrencyStatus:
    def test_the_pool_reports_slots_per_queue_with_their_holders(self, api, pool, scheduled_run):
        api.post("/work_pools/pool-a/queues", {"name": "limited", "concurrency_limit": 2})
        api.patch("/work_pools/pool-a", {"concurrency_limit": 5})
        holder = scheduled_run(queue_name="limited")
        set_state(api, holder["id"], "RUNNING")
        scheduled_run()  # waiting, holds nothing
        status = api.post("/work_pools/pool-a/concurrency_status", {"page": None, "limit": None}).data
        assert (status["active_slots"], status["concurrency_limit"], status["count"]) == (1, 5, 2)
        by_name = {queue["queue_name"]: queue for queue in status["queues"]}
        assert by_name["limited"]["active_slots"] == 1 and by_name["limited"]["concurrency_limit"] == 2
        assert [run["id"] for run in by_name["limited"]["flow_runs"]] == [holder["id"]]
        assert by_name["limited"]["flow_runs"][0]["state_type"] == "RUNNING"
        assert by_name["default"]["flow_runs"] == []

    def test_queues_are_paged(self, api, pool):
        for name in ("b", "c"):
            api.post("/work_pools/pool-a/queues", {"name": name})
        status = api.post("/work_pools/pool-a/concurrency_status", {"page": 2, "limit": 2}).data
        assert [queue["queue_name"] for queue in status["queues"]] == ["c"]
        assert (status["pages"], status["page"]) == (2, 2)

    def test_a_queue_reports_its_holders(self, api, pool, scheduled_run):
        holder = scheduled_run()
        set_state(api, holder["id"], "PENDING")
        status = api.post(f"/work_queues/{pool['default_queue_id']}/concurrency_status", {}).data
        assert status["active_slots"] == 1
        assert [run["id"] for run in status["flow_runs"]] == [holder["id"]]

    def test_a_missing_pool_is_not_found(self, api, db):
        assert api.post("/work_pools/nope/concurrency_status", {}).status_code == 404

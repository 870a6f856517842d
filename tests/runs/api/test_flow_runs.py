import uuid

import pytest


def state(type_, name=None, **details):
    return {"type": type_, "name": name, "message": None, "data": None, "state_details": details}


class TestCreateFlowRun:
    def test_it_creates_a_pending_run_with_a_generated_name(self, api, flow):
        response = api.post("/flow_runs/", {"flow_id": flow["id"], "name": None, "state": None, "tags": None,
                                            "parameters": {"x": 1}})
        assert response.status_code == 201
        run = response.data
        assert run["name"] and "-" in run["name"]
        assert (run["state_type"], run["state_name"]) == ("PENDING", "Pending")
        assert run["state"]["id"] == run["state_id"]
        assert run["parameters"] == {"x": 1}
        assert run["expected_start_time"] is not None
        assert run["total_run_time"] == 0.0

    def test_an_idempotency_key_returns_the_first_run(self, api, flow):
        first = api.post("/flow_runs/", {"flow_id": flow["id"], "idempotency_key": "k1"})
        second = api.post("/flow_runs/", {"flow_id": flow["id"], "idempotency_key": "k1"})
        assert (first.status_code, second.status_code) == (201, 200)
        assert first.data["id"] == second.data["id"]

    def test_it_answers_404_for_an_unknown_flow(self, api, db):
        response = api.post("/flow_runs/", {"flow_id": str(uuid.uuid4())})
        assert response.status_code == 404
        assert response.data["detail"]

    def test_it_refuses_a_bad_state_type(self, api, flow):
        response = api.post("/flow_runs/", {"flow_id": flow["id"], "state": {"type": "SLEEPING"}})
        assert response.status_code == 422


class TestReadUpdateDeleteFlowRun:
    def test_it_reads_updates_and_deletes(self, api, make_flow_run):
        run = make_flow_run()
        assert api.patch(f"/flow_runs/{run['id']}", {"name": "renamed", "infrastructure_pid": "42",
                                                     "flow_version": None}).status_code == 204
        read = api.get(f"/flow_runs/{run['id']}").data
        assert (read["name"], read["infrastructure_pid"]) == ("renamed", "42")
        assert api.patch(f"/flow_runs/{run['id']}/labels", {"team": "data"}).status_code == 204
        assert api.get(f"/flow_runs/{run['id']}").data["labels"]["team"] == "data"
        assert api.delete(f"/flow_runs/{run['id']}").status_code == 204
        assert api.get(f"/flow_runs/{run['id']}").status_code == 404

    def test_unknown_ids_answer_404(self, api, db):
        missing = uuid.uuid4()
        assert api.get(f"/flow_runs/{missing}").status_code == 404
        assert api.patch(f"/flow_runs/{missing}", {"name": "x"}).status_code == 404
        assert api.delete(f"/flow_runs/{missing}").status_code == 404
        assert api.post(f"/flow_runs/{missing}/set_state", {"state": state("RUNNING")}).status_code == 404


class TestSetFlowRunState:
    def test_a_run_goes_through_its_lifecycle(self, api, make_flow_run):
        run = make_flow_run()
        running = api.post(f"/flow_runs/{run['id']}/set_state", {"state": state("RUNNING"), "force": False})
        assert running.status_code == 201
        assert running.data["status"] == "ACCEPT"
        assert running.data["details"] == {"type": "accept_details"}
        done = api.post(f"/flow_runs/{run['id']}/set_state", {"state": state("COMPLETED"), "force": None})
        assert done.data["status"] == "ACCEPT"
        read = api.get(f"/flow_runs/{run['id']}").data
        assert (read["state_type"], read["run_count"]) == ("COMPLETED", 1)
        assert read["start_time"] and read["end_time"]
        history = api.get(f"/flow_run_states/?flow_run_id={run['id']}").data
        assert [s["type"] for s in history] == ["PENDING", "RUNNING", "COMPLETED"]
        assert api.get(f"/flow_run_states/{history[-1]['id']}").data["type"] == "COMPLETED"

    def test_a_failed_run_with_retries_is_rejected_into_awaiting_retry(self, api, make_flow_run):
        run = make_flow_run(empirical_policy={"retries": 1, "retry_delay": 0})
        api.post(f"/flow_runs/{run['id']}/set_state", {"state": state("RUNNING")})
        failed = api.post(f"/flow_runs/{run['id']}/set_state", {"state": state("FAILED")})
        assert failed.status_code == 201
        assert failed.data["status"] == "REJECT"
        assert (failed.data["state"]["type"], failed.data["state"]["name"]) == ("SCHEDULED", "AwaitingRetry")

    def test_leaving_a_terminal_state_is_aborted_with_200(self, api, make_flow_run):
        run = make_flow_run()
        api.post(f"/flow_runs/{run['id']}/set_state", {"state": state("RUNNING")})
        api.post(f"/flow_runs/{run['id']}/set_state", {"state": state("COMPLETED")})
        response = api.post(f"/flow_runs/{run['id']}/set_state", {"state": state("CANCELLING")})
        assert response.status_code == 200
        assert response.data["status"] == "ABORT"
        assert response.data["details"]["reason"]

    def test_force_writes_the_state(self, api, make_flow_run):
        run = make_flow_run()
        api.post(f"/flow_runs/{run['id']}/set_state", {"state": state("RUNNING")})
        api.post(f"/flow_runs/{run['id']}/set_state", {"state": state("COMPLETED")})
        forced = api.post(f"/flow_runs/{run['id']}/set_state", {"state": state("CANCELLED"), "force": True})
        assert forced.data["status"] == "ACCEPT"

    def test_it_refuses_a_malformed_proposal(self, api, make_flow_run):
        run = make_flow_run()
        assert api.post(f"/flow_runs/{run['id']}/set_state", {"state": {"name": "x"}}).status_code == 422
        assert api.post(f"/flow_runs/{run['id']}/set_state", raw="[").status_code in (400, 422)


class TestFilterFlowRuns:
    def test_it_filters_by_state_tags_and_flow_and_sorts(self, api, flow, make_flow_run):
        a = make_flow_run(name="a", tags=["prod"])
        b = make_flow_run(name="b", tags=["dev"])
        api.post(f"/flow_runs/{a['id']}/set_state", {"state": state("RUNNING")})
        body = {"flows": {"name": {"any_": ["etl"]}}, "flow_runs": {"state": {"type": {"any_": ["RUNNING"]}}},
                "task_runs": None, "deployments": None, "sort": "NAME_ASC", "limit": None, "offset": None}
        assert [r["name"] for r in api.post("/flow_runs/filter", body).data] == ["a"]
        tagged = api.post("/flow_runs/filter", {"flow_runs": {"tags": {"all_": ["dev"]}}}).data
        assert [r["id"] for r in tagged] == [b["id"]]
        assert api.post("/flow_runs/count", {"flow_runs": {"name": {"like_": "a"}}}).data == 1
        names = [r["name"] for r in api.post("/flow_runs/filter", {"sort": "NAME_DESC", "limit": 1, "offset": 1}).data]
        assert names == ["a"]

    def test_it_finds_subflows_by_parent_task_run(self, api, flow, make_flow_run):
        parent = make_flow_run(name="parent")
        task = api.post("/task_runs/", {"flow_run_id": parent["id"], "task_key": "child", "dynamic_key": "0",
                                        "name": "child-0"}).data
        child = make_flow_run(name="child", parent_task_run_id=task["id"])
        by_task = api.post("/flow_runs/filter", {"flow_runs": {"parent_task_run_id": {"any_": [task["id"]]}},
                                                 "sort": "EXPECTED_START_TIME_DESC", "limit": 1, "offset": 0}).data
        assert [r["id"] for r in by_task] == [child["id"]]
        by_parent = api.post("/flow_runs/filter", {"flow_runs": {"parent_flow_run_id": {"any_": [parent["id"]]}}}).data
        assert [r["id"] for r in by_parent] == [child["id"]]
        top_level = api.post("/flow_runs/filter", {"flow_runs": {"parent_task_run_id": {"is_null_": True}}}).data
        assert [r["id"] for r in top_level] == [parent["id"]]

    def test_it_paginates(self, api, make_flow_run):
        for index in range(3):
            make_flow_run(name=f"run-{index}")
        page = api.post("/flow_runs/paginate", {"page": 2, "limit": 2, "sort": "NAME_ASC", "flows": None}).data
        assert [r["name"] for r in page["results"]] == ["run-2"]
        assert (page["count"], page["pages"]) == (3, 2)

    @pytest.mark.parametrize("limit", [-1, 201])
    def test_it_refuses_limits_out_of_range(self, api, db, limit):
        assert api.post("/flow_runs/filter", {"limit": limit}).status_code == 422


class TestFlowRunHistory:
    def test_it_counts_runs_per_interval_and_state(self, api, make_flow_run):
        make_flow_run()
        make_flow_run()
        run = api.post("/flow_runs/filter", {}).data[0]
        start = run["expected_start_time"][:10] + "T00:00:00Z"
        end = run["expected_start_time"][:10] + "T23:59:59Z"
        history = api.post("/flow_runs/history", {"history_start": start, "history_end": end,
                                                  "history_interval_seconds": 86400}).data
        assert len(history) == 1
        assert history[0]["states"][0]["state_type"] == "PENDING"
        assert history[0]["states"][0]["count_runs"] == 2

    def test_it_refuses_a_tiny_interval(self, api, db):
        body = {"history_start": "2026-01-01T00:00:00Z", "history_end": "2026-01-02T00:00:00Z",
                "history_interval_seconds": 0.5}
        assert api.post("/flow_runs/history", body).status_code == 422


class TestFlowRunWorkPool:
    def test_a_run_in_a_pool_names_its_pool_and_queue(self, api, flow):
        pool = api.post("/work_pools/", {"name": "etl-pool", "type": "process"}).data
        created = api.post("/flow_runs/", {"flow_id": flow["id"], "work_pool_name": "etl-pool"}).data
        assert (created["work_pool_id"], created["work_pool_name"]) == (pool["id"], "etl-pool")
        assert created["work_queue_name"] == "default"
        listed = api.post("/flow_runs/filter", {}).data
        assert listed[0]["work_pool_name"] == "etl-pool"

    def test_an_unknown_pool_is_404(self, api, flow):
        assert api.post("/flow_runs/", {"flow_id": flow["id"], "work_pool_name": "nope"}).status_code == 404

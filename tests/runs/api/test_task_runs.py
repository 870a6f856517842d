import uuid


def task_body(flow_run_id, **fields):
    return {"flow_run_id": flow_run_id, "task_key": "add", "dynamic_key": "0", "name": "add-0", **fields}


class TestCreateTaskRun:
    def test_it_creates_a_pending_task_run_once(self, api, make_flow_run):
        run = make_flow_run()
        first = api.post("/task_runs/", task_body(run["id"]))
        again = api.post("/task_runs/", task_body(run["id"]))
        assert (first.status_code, again.status_code) == (201, 200)
        assert first.data["id"] == again.data["id"]
        assert first.data["state_type"] == "PENDING"

    def test_it_answers_404_for_an_unknown_flow_run(self, api, db):
        assert api.post("/task_runs/", task_body(str(uuid.uuid4()))).status_code == 404

    def test_it_requires_the_keys(self, api, db):
        assert api.post("/task_runs/", {"name": "x"}).status_code == 422


class TestTaskRunStates:
    def test_it_sets_and_reads_states(self, api, make_flow_run):
        run = make_flow_run()
        api.post(f"/flow_runs/{run['id']}/set_state", {"state": {"type": "RUNNING"}})
        task = api.post("/task_runs/", task_body(run["id"])).data
        running = api.post(f"/task_runs/{task['id']}/set_state", {"state": {"type": "RUNNING"}, "force": False})
        assert (running.status_code, running.data["status"]) == (201, "ACCEPT")
        api.post(f"/task_runs/{task['id']}/set_state", {"state": {"type": "COMPLETED"}})
        read = api.get(f"/task_runs/{task['id']}").data
        assert (read["state_type"], read["run_count"]) == ("COMPLETED", 1)
        history = api.get(f"/task_run_states/?task_run_id={task['id']}").data
        assert [s["type"] for s in history] == ["PENDING", "RUNNING", "COMPLETED"]


class TestFilterTaskRuns:
    def test_it_filters_by_flow_run_and_counts(self, api, make_flow_run):
        one, two = make_flow_run(), make_flow_run()
        api.post("/task_runs/", task_body(one["id"]))
        api.post("/task_runs/", task_body(one["id"], dynamic_key="1", name="add-1"))
        api.post("/task_runs/", task_body(two["id"]))
        body = {"flow_runs": {"id": {"any_": [one["id"]]}}, "sort": "NAME_DESC", "limit": None, "offset": None}
        assert [t["name"] for t in api.post("/task_runs/filter", body).data] == ["add-1", "add-0"]
        assert api.post("/task_runs/count", {"task_runs": {"flow_run_id": {"any_": [two["id"]]}}}).data == 1
        assert api.post("/task_runs/count", raw="").data == 3

import uuid
from datetime import datetime, timedelta, timezone

import pytest

from runs.models import FlowRun, TaskRun

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=timezone.utc)


def iso(moment):
    return moment.isoformat().replace("+00:00", "Z")


def scheduled(at):
    return {"type": "SCHEDULED", "state_details": {"scheduled_time": iso(at)}}


def make_task_run(api, flow_run_id, key, state=None):
    body = {"flow_run_id": flow_run_id, "task_key": key, "dynamic_key": "0", "name": key, "state": state}
    response = api.post("/task_runs/", body)
    assert response.status_code in (200, 201), response.data
    return response.data


class TestFlows:
    def test_count_deployments(self, api, flow):
        other = api.post("/flows/", {"name": "other"}).data
        for name in ("a", "b"):
            assert api.post("/deployments/", {"name": name, "flow_id": flow["id"]}).status_code in (200, 201)
        response = api.post("/ui/flows/count-deployments", {"flow_ids": [flow["id"], other["id"]]})
        assert response.data == {flow["id"]: 2, other["id"]: 0}

    def test_next_runs_picks_the_soonest_scheduled_run(self, api, flow, make_flow_run):
        later = make_flow_run(state=scheduled(T0 + timedelta(hours=2)))
        soonest = make_flow_run(state=scheduled(T0 + timedelta(hours=1)))
        make_flow_run(state={"type": "RUNNING"})
        missing = str(uuid.uuid4())
        data = api.post("/ui/flows/next-runs", {"flow_ids": [flow["id"], missing]}).data
        assert data[missing] is None
        assert data[flow["id"]]["id"] == soonest["id"] != later["id"]
        assert data[flow["id"]] | {"id": None} == {
            "id": None, "flow_id": flow["id"], "name": soonest["name"], "state_name": "Scheduled",
            "state_type": "SCHEDULED", "next_scheduled_start_time": "2026-01-01T13:00:00Z"}

    def test_more_than_200_ids_is_422(self, api):
        ids = [str(uuid.uuid4()) for _ in range(201)]
        assert api.post("/ui/flows/count-deployments", {"flow_ids": ids}).status_code == 422
        assert api.post("/ui/flows/next-runs", {"flow_ids": ["nope"]}).status_code == 422


class TestFlowRuns:
    def test_history_has_timestamp_duration_and_lateness(self, api, make_flow_run):
        run = make_flow_run(state=scheduled(T0))
        FlowRun.objects.filter(id=run["id"]).update(
            start_time=T0 + timedelta(seconds=5), state_type="COMPLETED", total_run_time=timedelta(seconds=7))
        make_flow_run(state=scheduled(T0 + timedelta(days=1)))
        history = api.post("/ui/flow_runs/history", {"sort": "EXPECTED_START_TIME_ASC", "limit": 1}).data
        assert history == [{"id": run["id"], "state_type": "COMPLETED", "timestamp": "2026-01-01T12:00:05Z",
                            "duration": 7.0, "lateness": 5.0}]
        assert api.post("/ui/flow_runs/history", {"limit": 1001}).status_code == 422

    def test_count_task_runs_leaves_out_subflow_task_runs(self, api, make_flow_run):
        run = make_flow_run()
        make_task_run(api, run["id"], "a")
        wrapper = make_task_run(api, run["id"], "subflow")
        make_flow_run(parent_task_run_id=wrapper["id"])
        empty = str(uuid.uuid4())
        data = api.post("/ui/flow_runs/count-task-runs", {"flow_run_ids": [run["id"], empty]}).data
        assert data == {run["id"]: 1, empty: 0}


class TestTaskRuns:
    def test_count_by_state_lists_every_state_type(self, api, make_flow_run):
        run = make_flow_run()
        make_task_run(api, run["id"], "a", {"type": "COMPLETED"})
        make_task_run(api, run["id"], "b", {"type": "FAILED"})
        data = api.post("/ui/task_runs/count", {}).data
        assert data["COMPLETED"] == 1 and data["FAILED"] == 1 and data["RUNNING"] == 0
        assert set(data) == {"COMPLETED", "PENDING", "RUNNING", "FAILED", "CANCELLED", "CRASHED", "PAUSED",
                             "CANCELLING", "SCHEDULED"}

    def test_dashboard_counts_buckets_finished_runs(self, api, make_flow_run):
        run = make_flow_run()
        for key, state_type, minute in (("a", "COMPLETED", 0), ("b", "FAILED", 0), ("c", "CRASHED", 19),
                                        ("d", "RUNNING", 0)):
            created = make_task_run(api, run["id"], key, {"type": state_type})
            TaskRun.objects.filter(id=created["id"]).update(start_time=T0 + timedelta(minutes=minute, seconds=1))
        body = {"task_runs": {"start_time": {"after_": iso(T0), "before_": iso(T0 + timedelta(minutes=19, seconds=30))}}}
        buckets = api.post("/ui/task_runs/dashboard/counts", body).data
        assert len(buckets) == 20
        assert buckets[0] == {"completed": 1, "failed": 1}
        assert buckets[19] == {"completed": 0, "failed": 1}
        assert sum(b["completed"] + b["failed"] for b in buckets) == 3

    @pytest.mark.parametrize("body", [{}, {"task_runs": {}}, {"task_runs": {"start_time": {"before_": "2026-01-01T00:00:00Z"}}}])
    def test_dashboard_counts_need_a_start(self, api, body):
        assert api.post("/ui/task_runs/dashboard/counts", body).status_code == 422

    def test_read_task_run_with_its_flow_run_name(self, api, make_flow_run):
        run = make_flow_run(name="nightly")
        task = make_task_run(api, run["id"], "a")
        data = api.get(f"/ui/task_runs/{task['id']}").data
        assert data["flow_run_name"] == "nightly" and data["id"] == task["id"] and data["task_key"] == "a"
        missing = api.get(f"/ui/task_runs/{uuid.uuid4()}")
        assert missing.status_code == 404 and missing.data == {"detail": "Task not found"}


SCHEMA = {
    "type": "object",
    "properties": {
        "name": {"type": "string"},
        "count": {"type": "integer", "default": 1},
        "tags": {"type": "array", "items": {"type": "string"}},
        "nested": {"type": "object", "properties": {"x": {"type": "integer"}}, "required": ["x"]},
    },
    "required": ["name"],
}


def reference_verdict(schema, values, variables):
    """What prefect 3.8.8's own schema tools answer (the test may use the client package)."""
    from prefect.utilities.schema_tools.hydration import HydrationContext, hydrate
    from prefect.utilities.schema_tools.validation import build_error_obj, preprocess_schema, validate

    prepared = preprocess_schema(schema)
    hydrated = hydrate(values, HydrationContext(workspace_variables=variables, render_workspace_variables=True))
    return build_error_obj(validate(hydrated, prepared, preprocess=False))


class TestSchemaValidation:
    @pytest.mark.parametrize("values", [
        {"name": "ok", "tags": ["a"], "nested": {"x": 1}},
        {"count": "three", "tags": [1, "b", 2], "nested": {}},
        {"name": None},
        {"name": {"__prefect_kind": "json", "value": "\"from json\""}},
        {"name": {"__prefect_kind": "json", "value": "{not json"}},
        {"name": {"__prefect_kind": "workspace_variable", "variable_name": "region"}},
        {"name": {"__prefect_kind": "workspace_variable", "variable_name": "missing"}},
        {"name": {"__prefect_kind": "jinja", "template": "{{ flow_run.name }}"}},
        {"name": {"__prefect_kind": "none", "value": 5}},
    ])
    def test_answers_as_the_reference_does(self, api, values):
        api.post("/variables/", {"name": "region", "value": "eu"})
        response = api.post("/ui/schemas/validate", {"schema": SCHEMA, "values": values})
        assert response.status_code == 200, response.data
        assert response.data == reference_verdict(SCHEMA, values, {"region": "eu"})

    def test_an_invalid_schema_is_422(self, api):
        response = api.post("/ui/schemas/validate", {"schema": {"type": "nonsense"}, "values": {}})
        assert response.status_code == 422
        assert response.data["detail"].startswith("Invalid schema:")

    def test_a_body_without_schema_or_values_is_422(self, api):
        assert api.post("/ui/schemas/validate", {"values": {}}).status_code == 422
        assert api.post("/ui/schemas/validate", {"schema": {}}).status_code == 422


def test_dashboard_counts_read_times_without_a_zone_as_utc(api):
    body = {"task_runs": {"start_time": {"after_": "2026-01-01T12:00:00", "before_": "2026-01-01T12:30:00"}}}
    response = api.post("/ui/task_runs/dashboard/counts", body)
    assert response.status_code == 200
    assert len(response.data) == 20

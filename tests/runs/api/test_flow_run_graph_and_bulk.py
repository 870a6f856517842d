"""graph-v2 / graph, bulk_set_state, lateness and the CSV log download of flow runs."""

import csv
import io
import uuid
from datetime import datetime, timedelta, timezone

import pytest
from asgiref.sync import async_to_sync

from runs.api import logs as logs_api

from runs.models import FlowRun

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=timezone.utc)


def streamed(response) -> bytes:
    """The body of a streamed response, read the way the ASGI server reads it (asynchronously)."""
    async def collect():
        return b"".join([chunk async for chunk in response.streaming_content])

    return async_to_sync(collect)()


def iso(moment):
    return moment.isoformat().replace("+00:00", "Z")


def running(at):
    return {"type": "RUNNING", "name": "Running", "timestamp": iso(at)}


@pytest.fixture
def task_run(api):
    def make(flow_run_id, key, inputs=None, state=None):
        body = {"flow_run_id": flow_run_id, "task_key": key, "dynamic_key": "0", "name": key,
                "task_inputs": inputs or {}, "state": state}
        response = api.post("/task_runs/", body)
        assert response.status_code in (200, 201), response.data
        return response.data

    return make


def ref(run):
    return [{"input_type": "task_run", "id": run["id"]}]


class TestGraphV2:
    def test_nodes_edges_subflows_artifacts_and_states(self, api, make_flow_run, flow, task_run):
        parent = make_flow_run(state=running(T0))
        first = task_run(parent["id"], "extract", state=running(T0 + timedelta(seconds=1)))
        second = task_run(parent["id"], "load", {"rows": ref(first), "x": []}, state=running(T0 + timedelta(seconds=2)))
        inner = task_run(parent["id"], "inner", {"__parents__": ref(second)}, state=running(T0 + timedelta(seconds=3)))
        wrapper = task_run(parent["id"], "child-flow", {"rows": ref(first)}, state=running(T0 + timedelta(seconds=4)))
        child = make_flow_run(parent_task_run_id=wrapper["id"], name="kid", state=running(T0 + timedelta(seconds=5)))
        api.post("/artifacts/", {"type": "progress", "data": 50.0, "flow_run_id": parent["id"], "task_run_id": first["id"]})
        api.post("/artifacts/", {"key": "report", "type": "markdown", "data": "# hi", "flow_run_id": parent["id"]})
        api.post("/artifacts/", {"type": "result", "data": "x", "flow_run_id": parent["id"]})

        response = api.get(f"/flow_runs/{parent['id']}/graph-v2")
        assert response.status_code == 200, response.data
        graph = response.data
        nodes = dict((node_id, node) for node_id, node in graph["nodes"])
        assert list(nodes) == [first["id"], second["id"], inner["id"], child["id"]]  # by start time
        assert graph["root_node_ids"] == [first["id"], inner["id"]]
        # the subflow takes its wrapper task run's place, inputs included
        assert [e["id"] for e in nodes[first["id"]]["children"]] == [second["id"], child["id"]]
        assert nodes[child["id"]]["parents"] == [{"id": first["id"]}]
        assert nodes[second["id"]]["parents"] == [{"id": first["id"]}]
        assert nodes[inner["id"]]["encapsulating"] == [{"id": second["id"]}] and nodes[inner["id"]]["parents"] == []
        assert nodes[child["id"]]["kind"] == "flow-run" and nodes[child["id"]]["label"] == f"{flow['name']} / kid"
        assert nodes[first["id"]]["artifacts"][0] | {"id": None, "created": None} == {
            "id": None, "created": None, "key": None, "type": "progress", "is_latest": True, "data": 50.0}
        assert [(a["key"], a["data"], a["is_latest"]) for a in graph["artifacts"]] == [("report", None, True)]
        assert [s["type"] for s in graph["states"]] == ["RUNNING"]
        assert graph["start_time"] == "2026-01-01T12:00:00Z" and graph["end_time"] is None

    def test_since_drops_nodes_that_ended_before(self, api, make_flow_run, task_run):
        parent = make_flow_run(state=running(T0))
        task_run(parent["id"], "done", state={"type": "COMPLETED", "timestamp": iso(T0)})
        assert len(api.get(f"/flow_runs/{parent['id']}/graph-v2").data["nodes"]) == 1
        later = api.get(f"/flow_runs/{parent['id']}/graph-v2?since=2030-01-01T00:00:00Z").data
        assert later["nodes"] == []

    def test_missing_run_and_bad_since(self, api, make_flow_run):
        assert api.get(f"/flow_runs/{uuid.uuid4()}/graph-v2").status_code == 404
        run = make_flow_run()
        assert api.get(f"/flow_runs/{run['id']}/graph-v2?since=yesterday").status_code == 422

    def test_v1_graph_lists_dependencies(self, api, make_flow_run, task_run):
        parent = make_flow_run()
        first = task_run(parent["id"], "a")
        task_run(parent["id"], "b", {"x": ref(first), "y": ref(first)})
        graph = api.get(f"/flow_runs/{parent['id']}/graph").data
        by_name = {entry["name"]: entry for entry in graph}
        assert by_name["b"]["upstream_dependencies"] == ref(first)
        assert by_name["a"]["upstream_dependencies"] == []
        assert api.get(f"/flow_runs/{uuid.uuid4()}/graph").status_code == 404


class TestBulkSetState:
    def test_sets_the_state_of_matching_runs(self, api, make_flow_run):
        runs = [make_flow_run(tags=["batch"]) for _ in range(3)]
        make_flow_run(tags=["other"])
        body = {"flow_runs": {"tags": {"all_": ["batch"]}}, "state": {"type": "CANCELLED"}, "limit": 2}
        response = api.post("/flow_runs/bulk_set_state", body)
        assert response.status_code == 200, response.data
        results = response.data["results"]
        assert len(results) == 2
        assert {r["status"] for r in results} == {"ACCEPT"}
        assert {r["flow_run_id"] for r in results} <= {run["id"] for run in runs}
        assert all(r["state"]["type"] == "CANCELLED" for r in results)
        assert FlowRun.objects.filter(state_type="CANCELLED").count() == 2

    @pytest.mark.parametrize("body", [{"state": {"type": "NOPE"}}, {}, {"state": {"type": "FAILED"}, "limit": 51},
                                      {"state": {"type": "FAILED"}, "limit": 0}])
    def test_bad_bodies_are_422(self, api, body):
        assert api.post("/flow_runs/bulk_set_state", body).status_code == 422

    def test_no_match_is_an_empty_list(self, api):
        body = {"flow_runs": {"id": {"any_": [str(uuid.uuid4())]}}, "state": {"type": "FAILED"}}
        assert api.post("/flow_runs/bulk_set_state", body).data == {"results": []}


class TestLateness:
    def test_averages_start_delays(self, api, make_flow_run):
        late = make_flow_run(tags=["l"], state={"type": "SCHEDULED", "state_details": {"scheduled_time": iso(T0)}})
        on_time = make_flow_run(tags=["l"], state={"type": "SCHEDULED", "state_details": {"scheduled_time": iso(T0)}})
        FlowRun.objects.filter(id=late["id"]).update(start_time=T0 + timedelta(seconds=30), state_type="COMPLETED")
        FlowRun.objects.filter(id=on_time["id"]).update(start_time=T0, state_type="COMPLETED")
        assert api.post("/flow_runs/lateness", {"flow_runs": {"tags": {"all_": ["l"]}}}).data == pytest.approx(15.0)

    def test_none_when_nothing_matches(self, api):
        assert api.post("/flow_runs/lateness", {}).data is None


class TestLogDownload:
    def test_csv_of_every_line_in_order(self, api, make_flow_run):
        run = make_flow_run(name="nightly")
        lines = [{"name": "l", "level": 20, "message": f"line {i}, with \"quotes\"", "flow_run_id": run["id"],
                  "timestamp": iso(T0 + timedelta(seconds=i))} for i in range(3)]
        api.post("/logs/", lines)
        response = api.client.get(f"/api/flow_runs/{run['id']}/logs/download")
        assert response.status_code == 200
        assert response["Content-Type"] == "text/csv; charset=utf-8"
        assert "nightly-logs.csv" in response["Content-Disposition"]
        rows = list(csv.reader(io.StringIO(streamed(response).decode())))
        assert rows[0] == ["timestamp", "level", "flow_run_id", "task_run_id", "message"]
        assert [row[4] for row in rows[1:]] == [line["message"] for line in lines]
        assert rows[1][1] == "20" and rows[1][2] == run["id"] and rows[1][3] == ""

    def test_reads_page_after_page(self, api, make_flow_run, monkeypatch):
        monkeypatch.setattr(logs_api, "LOG_DOWNLOAD_PAGE", 2)
        run = make_flow_run()
        api.post("/logs/", [{"name": "l", "level": 10, "message": f"m{i}", "flow_run_id": run["id"],
                             "timestamp": iso(T0 + timedelta(seconds=i))} for i in range(5)])
        response = api.client.get(f"/api/flow_runs/{run['id']}/logs/download")
        rows = list(csv.reader(io.StringIO(streamed(response).decode())))
        assert [row[4] for row in rows[1:]] == ["m0", "m1", "m2", "m3", "m4"]

    def test_missing_run_is_404(self, api):
        assert api.get(f"/flow_runs/{uuid.uuid4()}/logs/download").status_code == 404


def test_graph_since_without_a_zone_is_read_as_utc(api, make_flow_run, task_run):
    parent = make_flow_run(state=running(T0))
    task_run(parent["id"], "done", state={"type": "COMPLETED", "timestamp": iso(T0)})
    assert len(api.get(f"/flow_runs/{parent['id']}/graph-v2?since=2025-01-01T00:00:00").data["nodes"]) == 1
    assert api.get(f"/flow_runs/{parent['id']}/graph-v2?since=2030-01-01T00:00:00").data["nodes"] == []

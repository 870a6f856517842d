import uuid
from datetime import UTC, datetime, timedelta

import pytest

from runs.models import FlowRun, WorkPool

SCHEMA = {
    "title": "Parameters", "type": "object",
    "properties": {"x": {"title": "x", "type": "integer", "default": 1}, "name": {"type": "string"}},
    "required": ["name"],
}


def serve_body(flow, **overrides):
    """The body `flow.serve(name=..., interval=600)` sends (nulls included)."""
    body = {
        "name": "nightly", "flow_id": flow["id"], "paused": False,
        "schedules": [{"schedule": {"interval": 600.0, "anchor_date": "2026-01-01T00:00:00Z", "timezone": "UTC"},
                       "active": True, "max_scheduled_runs": None, "parameters": {}, "slug": None, "replaces": None}],
        "concurrency_limit": None, "concurrency_options": None, "enforce_parameter_schema": True,
        "parameter_openapi_schema": SCHEMA, "parameters": {"name": "world"}, "tags": ["etl"], "labels": {},
        "work_queue_name": None, "path": ".", "entrypoint": "flow.py:etl", "job_variables": {},
        "version": "abc", "version_info": {"type": "prefect:simple", "version": "abc"},
    }
    body.update(overrides)
    return body


@pytest.fixture
def deployment(api, flow):
    response = api.post("/deployments/", serve_body(flow))
    assert response.status_code == 201, response.data
    return response.data


def scheduled_runs(deployment_id):
    return FlowRun.objects.filter(deployment_id=deployment_id, auto_scheduled=True, state_type="SCHEDULED")


class TestCreateDeployment:
    def test_it_creates_a_deployment_with_its_schedule_and_schedules_runs(self, api, deployment, flow):
        assert deployment["name"] == "nightly" and deployment["flow_id"] == flow["id"]
        assert deployment["schedules"][0]["schedule"]["interval"] == 600.0
        assert deployment["tags"] == ["etl"] and deployment["status"] == "NOT_READY"
        runs = list(scheduled_runs(deployment["id"]).order_by("next_scheduled_start_time"))
        assert len(runs) >= 3
        assert all(run.parameters == {"name": "world"} and run.tags == ["etl"] for run in runs)
        gaps = {(b.next_scheduled_start_time - a.next_scheduled_start_time) for a, b in zip(runs, runs[1:])}
        assert gaps == {timedelta(minutes=10)}

    def test_creating_again_by_flow_and_name_updates_it(self, api, flow, deployment):
        again = api.post("/deployments/", serve_body(flow, tags=["etl", "v2"], version="def"))
        assert again.status_code == 200
        assert again.data["id"] == deployment["id"]
        assert (again.data["tags"], again.data["version"]) == (["etl", "v2"], "def")

    def test_an_unchanged_schedule_keeps_its_runs(self, api, flow, deployment):
        before = set(scheduled_runs(deployment["id"]).values_list("id", flat=True))
        api.post("/deployments/", serve_body(flow))
        assert set(scheduled_runs(deployment["id"]).values_list("id", flat=True)) == before

    def test_a_changed_schedule_replaces_the_future_runs(self, api, flow, deployment):
        body = serve_body(flow)
        body["schedules"][0]["schedule"]["interval"] = 900
        api.post("/deployments/", body)
        runs = list(scheduled_runs(deployment["id"]).order_by("next_scheduled_start_time"))
        assert runs[1].next_scheduled_start_time - runs[0].next_scheduled_start_time == timedelta(minutes=15)

    def test_it_answers_404_for_an_unknown_flow_and_422_for_bad_input(self, api, flow):
        assert api.post("/deployments/", serve_body(flow, flow_id=str(uuid.uuid4()))).status_code == 404
        bad_schedule = serve_body(flow, schedules=[{"schedule": {"cron": "not a cron"}}])
        assert api.post("/deployments/", bad_schedule).status_code == 422
        assert api.post("/deployments/", serve_body(flow, concurrency_limit=0)).status_code == 422
        assert api.post("/deployments/", {"flow_id": flow["id"]}).status_code == 422

    def test_a_work_pool_places_it_in_the_pools_queue(self, api, flow):
        pool = WorkPool.objects.create(name="pool-a", type="process")
        response = api.post("/deployments/", serve_body(flow, work_pool_name="pool-a", work_queue_name="fast"))
        assert response.status_code == 201, response.data
        assert (response.data["work_pool_name"], response.data["work_queue_name"]) == ("pool-a", "fast")
        assert pool.queues.get(name="fast").id == uuid.UUID(response.data["work_queue_id"])
        assert api.post("/deployments/", serve_body(flow, name="x", work_pool_name="nope")).status_code == 404


class TestReadDeployments:
    def test_by_id_and_by_name(self, api, deployment):
        assert api.get(f"/deployments/{deployment['id']}").data["name"] == "nightly"
        assert api.get("/deployments/name/etl/nightly").data["id"] == deployment["id"]
        assert api.get("/deployments/name/etl/other").status_code == 404
        assert api.get(f"/deployments/{uuid.uuid4()}").status_code == 404

    def test_filter_count_and_paginate_with_client_nulls(self, api, flow, deployment):
        api.post("/deployments/", serve_body(flow, name="adhoc", tags=[], schedules=[], paused=True))
        nulls = {"flows": None, "flow_runs": None, "task_runs": None, "deployments": None, "work_pools": None,
                 "work_pool_queues": None, "sort": None, "limit": None, "offset": None}
        assert [d["name"] for d in api.post("/deployments/filter", nulls).data] == ["adhoc", "nightly"]
        by_tag = api.post("/deployments/filter", {"deployments": {"tags": {"all_": ["etl"]}}}).data
        assert [d["name"] for d in by_tag] == ["nightly"]
        paused = api.post("/deployments/count", {"deployments": {"paused": {"eq_": True}}})
        assert paused.data == 1
        like = api.post("/deployments/filter", {"deployments": {"flow_or_deployment_name": {"like_": "ADH"}}})
        assert [d["name"] for d in like.data] == ["adhoc"]
        by_flow = api.post("/deployments/count", {"flows": {"name": {"any_": ["etl"]}}})
        assert by_flow.data == 2
        page = api.post("/deployments/paginate", {"limit": 1, "page": 2, "sort": "NAME_DESC"}).data
        assert (page["count"], page["pages"], [d["name"] for d in page["results"]]) == (2, 2, ["adhoc"])

    def test_flow_runs_filter_by_deployment_fields(self, api, deployment):
        runs = api.post("/flow_runs/filter", {"deployments": {"name": {"any_": ["nightly"]}}}).data
        assert runs and all(run["deployment_id"] == deployment["id"] for run in runs)
        assert api.post("/flow_runs/count", {"deployments": {"name": {"any_": ["nope"]}}}).data == 0


class TestUpdatePauseDelete:
    def test_patch_changes_only_given_fields(self, api, deployment):
        assert api.patch(f"/deployments/{deployment['id']}", {"description": "nightly load"}).status_code == 204
        read = api.get(f"/deployments/{deployment['id']}").data
        assert (read["description"], read["tags"], read["version"]) == ("nightly load", ["etl"], "abc")

    def test_pausing_removes_future_auto_scheduled_runs_and_resuming_brings_them_back(self, api, deployment):
        assert scheduled_runs(deployment["id"]).exists()
        assert api.post(f"/deployments/{deployment['id']}/pause_deployment").status_code == 204
        assert api.get(f"/deployments/{deployment['id']}").data["paused"] is True
        assert not scheduled_runs(deployment["id"]).exists()
        assert api.post(f"/deployments/{deployment['id']}/resume_deployment").status_code == 204
        assert scheduled_runs(deployment["id"]).exists()

    def test_patch_paused_as_serve_does_on_exit(self, api, deployment):
        assert api.patch(f"/deployments/{deployment['id']}", {"paused": True}).status_code == 204
        assert not scheduled_runs(deployment["id"]).exists()

    def test_delete_removes_it_and_its_scheduled_runs(self, api, deployment):
        manual = api.post(f"/deployments/{deployment['id']}/create_flow_run", {}).data
        assert api.delete(f"/deployments/{deployment['id']}").status_code == 204
        assert api.get(f"/deployments/{deployment['id']}").status_code == 404
        assert not scheduled_runs(deployment["id"]).exists()
        assert api.get(f"/flow_runs/{manual['id']}").status_code == 200  # history is kept
        assert api.delete(f"/deployments/{deployment['id']}").status_code == 404

    def test_unknown_ids_answer_404(self, api, db):
        missing = uuid.uuid4()
        assert api.patch(f"/deployments/{missing}", {"paused": True}).status_code == 404
        assert api.post(f"/deployments/{missing}/pause_deployment").status_code == 404
        assert api.post(f"/deployments/{missing}/create_flow_run", {}).status_code == 404


class TestCreateFlowRunFromDeployment:
    def test_it_creates_a_scheduled_run_with_merged_parameters_and_tags(self, api, deployment):
        response = api.post(f"/deployments/{deployment['id']}/create_flow_run", {
            "state": {"type": "SCHEDULED", "name": "Scheduled", "state_details": {"scheduled_time": None}},
            "name": None, "parameters": {"x": 5}, "context": {}, "tags": ["manual"], "idempotency_key": None,
            "parent_task_run_id": None, "job_variables": {"env": {"A": "1"}}, "labels": {},
        })
        assert response.status_code == 201, response.data
        run = response.data
        assert run["parameters"] == {"name": "world", "x": 5}
        assert sorted(run["tags"]) == ["etl", "manual"]
        assert run["state_type"] == "SCHEDULED" and run["deployment_id"] == deployment["id"]
        assert run["job_variables"] == {"env": {"A": "1"}} and run["auto_scheduled"] is False

    def test_parameters_are_checked_against_the_schema(self, api, deployment):
        response = api.post(f"/deployments/{deployment['id']}/create_flow_run", {"parameters": {"x": "five"}})
        assert response.status_code == 409
        assert "x" in response.data["detail"]
        unchecked = api.post(f"/deployments/{deployment['id']}/create_flow_run",
                             {"parameters": {"x": "five"}, "enforce_parameter_schema": False})
        assert unchecked.status_code == 201

    def test_an_idempotency_key_returns_the_same_run(self, api, deployment):
        first = api.post(f"/deployments/{deployment['id']}/create_flow_run", {"idempotency_key": "once"})
        second = api.post(f"/deployments/{deployment['id']}/create_flow_run", {"idempotency_key": "once"})
        assert (first.status_code, second.status_code) == (201, 200)
        assert first.data["id"] == second.data["id"]


class TestGetScheduledFlowRuns:
    def test_it_returns_due_runs_soonest_first_and_marks_the_deployment_ready(self, api, deployment):
        now = api.post(f"/deployments/{deployment['id']}/create_flow_run", {}).data
        later = api.post(f"/deployments/{deployment['id']}/create_flow_run", {"state": {
            "type": "SCHEDULED", "state_details": {"scheduled_time": "2099-01-01T00:00:00Z"}}}).data
        # The runner sends scheduled_before as str(datetime), with a space.
        before = str(datetime.now(UTC) + timedelta(seconds=10))
        response = api.post("/deployments/get_scheduled_flow_runs",
                            {"deployment_ids": [deployment["id"]], "scheduled_before": before})
        assert response.status_code == 200
        ids = [run["id"] for run in response.data]
        assert now["id"] in ids and later["id"] not in ids
        read = api.get(f"/deployments/{deployment['id']}").data
        assert read["status"] == "READY" and read["last_polled"]

    def test_running_runs_are_not_handed_out(self, api, deployment):
        run = api.post(f"/deployments/{deployment['id']}/create_flow_run", {}).data
        api.post(f"/flow_runs/{run['id']}/set_state", {"state": {"type": "PENDING"}})
        response = api.post("/deployments/get_scheduled_flow_runs", {"deployment_ids": [deployment["id"]]})
        assert run["id"] not in [r["id"] for r in response.data]


class TestSchedulesEndpoints:
    def test_create_read_update_delete_schedules(self, api, deployment):
        path = f"/deployments/{deployment['id']}/schedules"
        created = api.post(path, [{"schedule": {"cron": "0 9 * * *", "timezone": "Europe/Berlin"}, "slug": "morning"}])
        assert created.status_code == 201, created.data
        schedule_id = created.data[0]["id"]
        assert [s["slug"] for s in api.get(path).data] == [None, "morning"]
        assert api.post(path, [{"schedule": {"interval": 60}, "slug": "morning"}]).status_code == 409
        assert api.patch(f"{path}/{schedule_id}", {"active": False}).status_code == 204
        assert api.get(path).data[1]["active"] is False
        assert api.patch(f"{path}/{schedule_id}", {"schedule": {"cron": "bad"}}).status_code == 422
        assert api.delete(f"{path}/{schedule_id}").status_code == 204
        assert api.delete(f"{path}/{schedule_id}").status_code == 404
        assert len(api.get(path).data) == 1

    def test_deactivating_a_schedule_removes_its_future_runs(self, api, deployment):
        schedule_id = deployment["schedules"][0]["id"]
        api.patch(f"/deployments/{deployment['id']}/schedules/{schedule_id}", {"active": False})
        assert not scheduled_runs(deployment["id"]).exists()

    def test_patch_with_slugs_updates_the_matching_schedule(self, api, flow):
        body = serve_body(flow, name="slugged")
        body["schedules"][0]["slug"] = "every-10"
        deployment = api.post("/deployments/", body).data
        schedule_id = deployment["schedules"][0]["id"]
        patch = {"schedules": [{"schedule": {"interval": 1200}, "slug": "every-20", "replaces": "every-10"}]}
        assert api.patch(f"/deployments/{deployment['id']}", patch).status_code == 204
        schedules = api.get(f"/deployments/{deployment['id']}").data["schedules"]
        assert [(s["id"], s["slug"], s["schedule"]["interval"]) for s in schedules] == [
            (schedule_id, "every-20", 1200.0)
        ]
        unslugged = {"schedules": [{"schedule": {"interval": 60}}]}
        assert api.patch(f"/deployments/{deployment['id']}", unslugged).status_code == 422


class TestAutomationsOwnedBy:
    def test_deleting_a_deployments_automations_is_accepted(self, api, deployment):
        assert api.delete(f"/automations/owned-by/prefect.deployment.{deployment['id']}").status_code == 202

    def test_a_deployment_has_no_related_automations(self, api, deployment):
        response = api.get(f"/automations/related-to/prefect.deployment.{deployment['id']}")
        assert (response.status_code, response.data) == (200, [])


class TestBulkCreateFlowRuns:
    def test_each_run_is_created_or_reported_failed_in_order(self, api, deployment):
        before = FlowRun.objects.filter(deployment_id=deployment["id"], auto_scheduled=False).count()
        response = api.post(f"/deployments/{deployment['id']}/create_flow_run/bulk", [
            {"parameters": {"x": 5}, "tags": ["manual"], "name": "first"},
            {"parameters": {"x": "five"}},  # fails the parameter schema
            {"state": {"type": "SCHEDULED", "name": "Scheduled"}, "job_variables": {"env": {"A": "1"}}},
            {"work_queue_name": "elsewhere"},  # the deployment has no work pool
        ])
        assert response.status_code == 200, response.data
        results = response.data["results"]
        assert [result["status"] for result in results] == ["CREATED", "FAILED", "CREATED", "FAILED"]
        assert "x" in results[1]["error"] and "work pool" in results[3]["error"]
        assert results[1]["flow_run_id"] is None
        first = api.get(f"/flow_runs/{results[0]['flow_run_id']}").data
        assert (first["name"], first["parameters"], sorted(first["tags"])) == ("first", {"name": "world", "x": 5}, ["etl", "manual"])
        assert first["state_type"] == "SCHEDULED" and first["deployment_id"] == deployment["id"]
        third = api.get(f"/flow_runs/{results[2]['flow_run_id']}").data
        assert third["job_variables"] == {"env": {"A": "1"}}
        assert FlowRun.objects.filter(deployment_id=deployment["id"], auto_scheduled=False).count() == before + 2

    def test_an_empty_list_creates_nothing(self, api, deployment):
        response = api.post(f"/deployments/{deployment['id']}/create_flow_run/bulk", [])
        assert (response.status_code, response.data) == (200, {"results": []})

    def test_bad_requests_are_refused(self, api, deployment):
        url = f"/deployments/{deployment['id']}/create_flow_run/bulk"
        too_many = api.post(url, [{} for _ in range(101)])
        assert too_many.status_code == 400 and "100" in too_many.data["detail"]
        assert api.post(f"/deployments/{uuid.uuid4()}/create_flow_run/bulk", []).status_code == 404
        assert api.post(url, {"parameters": {}}).status_code == 422  # not a list
        assert api.post(url, [{"parameters": "x"}]).status_code == 422
        assert api.post(url, [{"state": {"type": "NOPE"}}]).status_code == 422
        assert not FlowRun.objects.filter(deployment_id=deployment["id"], auto_scheduled=False).exists()


class TestWorkQueueCheck:
    def test_it_lists_the_queues_whose_filter_picks_up_the_deployment(self, api, deployment):
        pool = WorkPool.objects.create(name="pool-a", type="process")
        queues = {
            "open": None,
            "etl-only": {"tags": ["etl"]},
            "needs-more-tags": {"tags": ["etl", "gpu"]},
            "this-deployment": {"deployment_ids": [deployment["id"]]},
            "other-deployment": {"deployment_ids": [str(uuid.uuid4())]},
        }
        for name, queue_filter in queues.items():
            assert api.post(f"/work_pools/{pool.name}/queues", {"name": name, "filter": queue_filter}).status_code == 201
        response = api.get(f"/deployments/{deployment['id']}/work_queue_check")
        assert response.status_code == 200
        names = {queue["name"] for queue in response.data}
        assert {"open", "etl-only", "this-deployment"} <= names
        assert not names & {"needs-more-tags", "other-deployment"}
        assert {"id", "name", "filter", "priority", "work_pool_id", "is_paused"} <= set(response.data[0])

    def test_unknown_or_malformed_ids_are_refused(self, api, db):
        assert api.get(f"/deployments/{uuid.uuid4()}/work_queue_check").status_code == 404
        assert api.get("/deployments/not-a-uuid/work_queue_check").status_code in (404, 422)

import uuid

from django.contrib.messages import get_messages

from runs.domain import deployments, flow_runs
from runs.models import FlowRun

SCHEMA = {
    "type": "object",
    "properties": {
        "count": {"type": "integer", "title": "count", "position": 0, "default": 3},
        "label": {"type": "string", "title": "label", "position": 1},
        "dry_run": {"type": "boolean", "title": "dry_run", "position": 2, "default": False},
        "options": {"type": "object", "title": "options", "position": 3},
        "mode": {"enum": ["fast", "slow"], "title": "mode", "position": 4},
    },
    "required": ["label"],
}


def flashed(response):
    return [str(message) for message in get_messages(response.wsgi_request)]


def make_deployment(records, name="nightly", **fields):
    flow = records.flow()
    fields.setdefault("schedules", [{"schedule": {"interval": 3600, "anchor_date": "2026-01-01T00:00:00Z"}}])
    deployment, _ = deployments.create_deployment(
        flow_id=flow.id, name=name, parameter_openapi_schema=SCHEMA, parameters={"label": "daily"}, **fields
    )
    return deployment


class TestDeploymentList:
    def test_it_lists_deployments_with_their_schedules(self, client, records):
        make_deployment(records)
        page = client.get("/deployments/").content.decode()
        assert "nightly" in page and "every hour" in page

    def test_search_narrows_the_list(self, client, records):
        make_deployment(records)
        assert "nightly" not in client.get("/deployments/?q=weekly").content.decode()

    def test_the_table_refreshes_as_a_fragment(self, client, records):
        make_deployment(records)
        fragment = client.get("/deployments/", HTTP_HX_REQUEST="true", HTTP_HX_TARGET="deployment-table")
        assert fragment.content.decode().startswith('<div id="deployment-table"')


class TestDeploymentDetail:
    def test_it_shows_schedules_upcoming_runs_and_a_run_form_from_the_schema(self, client, records):
        deployment = make_deployment(records)
        page = client.get(f"/deployments/deployment/{deployment.id}").content.decode()
        upcoming = FlowRun.objects.filter(deployment_id=deployment.id).order_by("next_scheduled_start_time").first()
        assert upcoming.name in page
        for field in ('name="count"', 'name="label" value="daily"', 'type="checkbox"', '<textarea', '<option value="fast"'):
            assert field in page

    def test_an_unknown_deployment_is_a_404(self, client, db):
        assert client.get(f"/deployments/deployment/{uuid.uuid4()}").status_code == 404

    def test_pause_and_resume(self, client, records):
        deployment = make_deployment(records)
        client.post(f"/deployments/deployment/{deployment.id}/pause")
        assert deployments.read_deployment(deployment_id=deployment.id).paused
        assert not FlowRun.objects.filter(deployment_id=deployment.id, state_type="SCHEDULED").exists()
        client.post(f"/deployments/deployment/{deployment.id}/resume")
        assert not deployments.read_deployment(deployment_id=deployment.id).paused
        assert FlowRun.objects.filter(deployment_id=deployment.id, state_type="SCHEDULED").exists()


class TestRunForm:
    def test_it_starts_a_run_with_typed_parameters(self, client, records):
        deployment = make_deployment(records, schedules=[])
        response = client.post(f"/deployments/deployment/{deployment.id}/run", {
            "count": "7", "label": "adhoc", "dry_run": "on", "options": '{"a": 1}', "mode": "slow",
        })
        run = FlowRun.objects.get(deployment_id=deployment.id)
        assert response.status_code == 302 and response.url == f"/runs/{run.id}/"
        assert run.parameters == {"count": 7, "label": "adhoc", "dry_run": True, "options": {"a": 1}, "mode": "slow"}
        assert run.state_type == "SCHEDULED"

    def test_bad_values_are_reported_and_start_nothing(self, client, records):
        deployment = make_deployment(records, schedules=[])
        response = client.post(f"/deployments/deployment/{deployment.id}/run", {"count": "many", "label": "x"})
        assert "'count'" in flashed(response)[0]
        response = client.post(f"/deployments/deployment/{deployment.id}/run", {"label": "x", "mode": "medium"})
        assert "mode" in flashed(response)[-1]
        assert not FlowRun.objects.filter(deployment_id=deployment.id).exists()


class TestResumeFlowRun:
    def test_a_paused_run_is_resumed(self, client, records):
        run = records.flow_run(records.flow(), states=("RUNNING",))
        flow_runs.set_flow_run_state(flow_run_id=run.id, state={"type": "PAUSED", "name": "Paused"})
        response = client.post(f"/runs/{run.id}/resume/")
        assert flow_runs.read_flow_run(flow_run_id=run.id).state_type == "RUNNING"
        assert flashed(response) == ["Flow run resumed."]

    def test_a_run_that_is_not_paused_is_left_alone(self, client, records):
        run = records.flow_run(records.flow(), states=("RUNNING", "COMPLETED"))
        response = client.post(f"/runs/{run.id}/resume/")
        assert "not paused" in flashed(response)[0]


class TestAdmin:
    def test_deployments_and_inputs_have_admin_pages(self, client, records):
        from django.contrib.auth.models import User

        deployment = make_deployment(records)
        client.force_login(User.objects.create_superuser("admin", "admin@example.com", "pw"))
        for url in ("/admin/runs/deployment/", f"/admin/runs/deployment/{deployment.id}/change/",
                    "/admin/runs/flowruninput/", "/admin/runs/deployment/?q=nightly"):
            assert client.get(url).status_code == 200, url

import uuid

import pytest

from runs.models import Automation

DEPLOYMENT_ID = "11111111-1111-1111-1111-111111111111"


def automation_body(**overrides):
    body = {
        "name": "on-failure",
        "description": "tell someone",
        "enabled": True,
        "tags": ["ops"],
        "trigger": {
            "type": "event",
            "posture": "Reactive",
            "expect": ["prefect.flow-run.Failed"],
            "match": {"prefect.resource.id": "prefect.flow-run.*"},
            "match_related": {"prefect.resource.name": "etl"},
            "threshold": 1,
            "within": 0,
        },
        "actions": [{"type": "do-nothing"}],
    }
    return {**body, **overrides}


@pytest.fixture
def automation(api):
    response = api.post("/automations/", automation_body())
    assert response.status_code == 201, response.data
    return response.data


class TestCreateAutomation:
    def test_returns_the_normalised_automation(self, api):
        sent = automation_body(trigger={**automation_body()["trigger"], "id": str(uuid.uuid4())})
        response = api.post("/automations/", sent)
        assert response.status_code == 201
        data = response.data
        assert uuid.UUID(data["id"]) and data["created"] and data["updated"]
        assert data["trigger"]["id"] != sent["trigger"]["id"]  # trigger ids are the server's
        assert data["trigger"] | {"id": None} == {
            "type": "event", "id": None, "match": {"prefect.resource.id": "prefect.flow-run.*"},
            "match_related": {"prefect.resource.name": "etl"}, "after": [], "expect": ["prefect.flow-run.Failed"],
            "for_each": [], "posture": "Reactive", "threshold": 1, "within": 0.0,
        }
        assert data["actions"] == [{"type": "do-nothing"}]
        assert data["actions_on_trigger"] == [] and data["actions_on_resolve"] == []

    def test_fills_action_defaults(self, api):
        actions = [
            {"type": "run-deployment", "deployment_id": DEPLOYMENT_ID, "parameters": {"x": 1}},
            {"type": "send-notification", "block_document_id": DEPLOYMENT_ID, "body": "hi"},
            {"type": "change-flow-run-state", "state": "FAILED"},
            {"type": "pause-work-pool", "source": "inferred"},
        ]
        data = api.post("/automations/", automation_body(actions=actions)).data
        assert data["actions"] == [
            {"source": "selected", "type": "run-deployment", "deployment_id": DEPLOYMENT_ID, "parameters": {"x": 1},
             "job_variables": None, "schedule_after": 0.0},
            {"type": "send-notification", "block_document_id": DEPLOYMENT_ID,
             "subject": "Prefect automated notification", "body": "hi"},
            {"type": "change-flow-run-state", "name": None, "state": "FAILED", "message": None, "force": False},
            {"source": "inferred", "type": "pause-work-pool", "work_pool_id": None},
        ]

    def test_nested_compound_trigger_gets_ids_and_proactive_minimum(self, api):
        trigger = {"type": "compound", "require": "all", "within": 60,
                   "triggers": [{"posture": "Proactive", "expect": ["a"]}, {"posture": "Reactive", "expect": ["b"]}]}
        data = api.post("/automations/", automation_body(trigger=trigger)).data
        assert data["trigger"]["within"] == 60.0
        children = data["trigger"]["triggers"]
        assert [child["type"] for child in children] == ["event", "event"]
        assert children[0]["within"] == 10.0  # a proactive trigger waits at least 10 s
        assert len({data["trigger"]["id"], children[0]["id"], children[1]["id"]}) == 3

    @pytest.mark.parametrize("change", [
        {"trigger": {"type": "metric", "posture": "Metric"}},
        {"trigger": {"type": "event"}},  # no posture
        {"trigger": {"posture": "Proactive", "within": 5}},
        {"trigger": {"type": "compound", "require": 3, "triggers": [{"posture": "Reactive"}]}},
        {"trigger": "garbage"},
        {"actions": [{"type": "launch-rockets"}]},
        {"actions": [{"type": "run-deployment"}]},  # selected without a deployment id
        {"actions": [{"type": "run-deployment", "source": "inferred", "deployment_id": DEPLOYMENT_ID}]},
        {"actions": [{"type": "send-notification", "block_document_id": "nope", "body": "x"}]},
        {"actions": "nope"},
        {"unknown_key": 1},
        {"name": None},
    ])
    def test_refuses_garbage_with_422(self, api, change):
        response = api.post("/automations/", automation_body(**change))
        assert response.status_code == 422, response.data
        assert Automation.objects.count() == 0

    def test_refuses_a_deployment_that_would_trigger_itself(self, api):
        body = automation_body(
            trigger={"posture": "Reactive", "expect": ["prefect.flow-run.Running"]},
            actions=[{"type": "run-deployment", "source": "inferred"}],
        )
        response = api.post("/automations/", body)
        assert response.status_code == 422
        assert "forever" in str(response.data)
        assert api.post("/automations/", {**body, "enabled": False}).status_code == 201


class TestReadUpdateDelete:
    def test_read_by_id_and_404(self, api, automation):
        assert api.get(f"/automations/{automation['id']}").data == automation
        missing = api.get(f"/automations/{uuid.uuid4()}")
        assert missing.status_code == 404
        assert missing.data == {"detail": "Automation not found"}

    def test_put_replaces_everything(self, api, automation):
        body = automation_body(name="renamed", tags=[], actions=[{"type": "cancel-flow-run"}])
        assert api.request("put", f"/automations/{automation['id']}", body).status_code == 204
        read = api.get(f"/automations/{automation['id']}").data
        assert read["name"] == "renamed" and read["tags"] == [] and read["actions"] == [{"type": "cancel-flow-run"}]
        assert api.request("put", f"/automations/{uuid.uuid4()}", body).status_code == 404
        assert api.request("put", f"/automations/{automation['id']}", {**body, "owner_resource": "x"}).status_code == 422

    def test_patch_pauses_and_resumes(self, api, automation):
        assert api.patch(f"/automations/{automation['id']}", {"enabled": False}).status_code == 204
        assert api.get(f"/automations/{automation['id']}").data["enabled"] is False
        assert api.patch(f"/automations/{automation['id']}", {"enabled": True}).status_code == 204
        assert api.get(f"/automations/{automation['id']}").data["enabled"] is True
        assert api.patch(f"/automations/{automation['id']}", {"name": "x"}).status_code == 422
        assert api.patch(f"/automations/{uuid.uuid4()}", {"enabled": False}).status_code == 404

    def test_resuming_a_looping_automation_is_refused(self, api):
        body = automation_body(enabled=False, trigger={"posture": "Reactive", "expect": ["prefect.flow-run.*"]},
                               actions=[{"type": "run-deployment", "source": "inferred"}])
        created = api.post("/automations/", body).data
        assert api.patch(f"/automations/{created['id']}", {"enabled": True}).status_code == 422
        assert api.get(f"/automations/{created['id']}").data["enabled"] is False

    def test_delete(self, api, automation):
        assert api.delete(f"/automations/{automation['id']}").status_code == 204
        assert api.delete(f"/automations/{automation['id']}").status_code == 404


class TestFilterAndCount:
    def test_filters_by_name_tags_and_sorts(self, api):
        for name, tags in (("b", ["x"]), ("a", ["x", "y"]), ("c", [])):
            api.post("/automations/", automation_body(name=name, tags=tags))
        names = lambda body: [a["name"] for a in api.post("/automations/filter", body).data]  # noqa: E731
        assert names({}) == ["a", "b", "c"]
        assert names({"sort": "NAME_DESC"}) == ["c", "b", "a"]
        assert names({"automations": {"name": {"any_": ["c", "a"]}}}) == ["a", "c"]
        assert names({"automations": {"tags": {"all_": ["x", "y"]}}}) == ["a"]
        assert names({"automations": {"tags": {"is_null_": True}}}) == ["c"]
        assert names({"limit": 1, "offset": 1}) == ["b"]
        assert api.post("/automations/count", {}).data == 3
        assert api.post("/automations/count", {"automations": {"tags": {"any_": ["y"]}}}).data == 1
        assert api.post("/automations/filter", {"sort": "SIDEWAYS"}).status_code == 422


class TestOwnedAndRelated:
    def test_owned_automations_are_listed_and_deleted_with_their_owner(self, api):
        owner = f"prefect.deployment.{DEPLOYMENT_ID}"
        owned = api.post("/automations/", automation_body(name="owned", owner_resource=owner)).data
        other = api.post("/automations/", automation_body(name="other")).data
        runs_it = api.post("/automations/", automation_body(
            name="runs-it", actions=[{"type": "run-deployment", "deployment_id": DEPLOYMENT_ID}])).data
        related = api.get(f"/automations/related-to/{owner}").data
        assert sorted(a["id"] for a in related) == sorted([owned["id"], runs_it["id"]])

        assert api.delete(f"/automations/owned-by/{owner}").status_code == 202
        remaining = {a["id"] for a in api.post("/automations/filter", {}).data}
        assert remaining == {other["id"], runs_it["id"]}  # only the owned one goes

    def test_an_update_drops_the_relation_to_a_deployment_no_longer_run(self, api):
        created = api.post("/automations/", automation_body(
            actions=[{"type": "run-deployment", "deployment_id": DEPLOYMENT_ID}])).data
        api.request("put", f"/automations/{created['id']}", automation_body())
        assert api.get(f"/automations/related-to/prefect.deployment.{DEPLOYMENT_ID}").data == []


class TestTemplateValidation:
    @pytest.mark.parametrize("path", ["/templates/validate", "/automations/templates/validate"])
    def test_a_valid_template_is_204(self, api, path):
        assert api.post(path, "Run {{ flow_run.name }} {% for x in y %}{{ x }}{% endfor %}").status_code == 204
        assert api.post(path, raw="").status_code == 204  # no body: the empty template

    def test_a_syntax_error_is_422_with_its_line(self, api):
        template = "line one\n{{ flow_run.name "
        response = api.post("/templates/validate", template)
        assert response.status_code == 422
        assert response.data["error"]["line"] == 2
        assert response.data["error"]["source"] == template
        assert response.data["error"]["message"]

    def test_too_deeply_nested_loops_are_refused(self, api):
        template = "{% for a in x %}{% for b in a %}{% for c in b %}{{ c }}{% endfor %}{% endfor %}{% endfor %}"
        response = api.post("/templates/validate", template)
        assert response.status_code == 422
        assert "nested" in response.data["error"]["message"]

    def test_a_body_that_is_not_a_string_is_422(self, api):
        assert api.post("/templates/validate", {"template": "x"}).status_code == 422

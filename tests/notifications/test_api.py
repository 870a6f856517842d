"""The JSON API of notification policies and deliveries, through the Django test client."""

import json
import uuid

import pytest

from notifications import deliveries
from notifications.models import Delivery

from ..runs.api.conftest import ApiClient
from .conftest import HEADER_TOKEN, URL_TOKEN, enter


@pytest.fixture
def api(db):
    return ApiClient()


@pytest.fixture
def policy_body(capture):
    return {
        "name": "on-call",
        "state_names": ["failed", "Crashed"],
        "tags": ["prod"],
        "channel": "webhook",
        "channel_config": {"url": f"{capture.url}/hooks/{URL_TOKEN}", "headers": {"Authorization": HEADER_TOKEN}},
        "message_template": "{flow_name} {state_name}",
    }


def test_create_read_update_delete(api, policy_body):
    created = api.post("/notification_policies/", policy_body)
    assert created.status_code == 201, created.data
    policy = created.data
    assert set(policy) == {
        "id", "created", "updated", "name", "state_names", "tags", "channel", "channel_config", "message_template", "is_active",
    }
    assert policy["state_names"] == ["Failed", "Crashed"] and policy["is_active"] is True
    assert policy["channel_config"]["url"] == "http://127.0.0.1/********"
    assert policy["channel_config"]["headers"] == {"Authorization": "********"}

    path = f"/notification_policies/{policy['id']}"
    assert api.get(path).data == policy
    updated = api.patch(path, {"tags": [], "channel_config": policy["channel_config"]})
    assert updated.status_code == 204
    read = api.get(path).data
    assert read["tags"] == [] and read["name"] == "on-call" and read["channel_config"] == policy["channel_config"]

    assert api.post(f"{path}/pause").status_code == 204
    assert api.get(path).data["is_active"] is False
    assert api.post(f"{path}/resume").status_code == 204
    assert api.get(path).data["is_active"] is True

    assert api.delete(path).status_code == 204
    assert api.get(path).status_code == 404
    assert api.delete(path).status_code == 404


def test_bad_input_is_422_with_field_errors(api, policy_body):
    response = api.post("/notification_policies/", {**policy_body, "state_names": ["Exploded"], "message_template": "{nope}"})
    assert response.status_code == 422
    assert set(response.data["field_errors"]) == {"state_names", "message_template"}
    assert "Exploded" in response.data["detail"] and "{nope}" in response.data["detail"]

    response = api.post("/notification_policies/", {**policy_body, "channel_config": {"url": "ftp://x"}})
    assert response.status_code == 422 and "channel_config.url" in response.data["field_errors"]

    assert api.post("/notification_policies/", {"channel": "webhook"}).status_code == 422  # no states
    assert api.post("/notification_policies/", raw="{not json").status_code in (400, 422)
    policy = api.post("/notification_policies/", policy_body).data
    assert api.patch(f"/notification_policies/{policy['id']}", {"channel": "nope"}).status_code == 422
    assert api.patch(f"/notification_policies/{policy['id']}", {"is_active": "maybe"}).status_code == 422
    assert api.patch(f"/notification_policies/{uuid.uuid4()}", {"name": "x"}).status_code == 404
    assert api.get("/notification_policies/not-a-uuid").status_code == 422
    for action in ("pause", "resume", "test"):
        assert api.post(f"/notification_policies/{uuid.uuid4()}/{action}").status_code == 404
    assert api.get(f"/notification_policies/{uuid.uuid4()}/deliveries").status_code == 404


def test_filter_and_count(api, policy_body):
    first = api.post("/notification_policies/", policy_body).data
    second = api.post("/notification_policies/", {**policy_body, "is_active": False}).data
    slack = api.post(
        "/notification_policies/",
        {"state_names": ["Failed"], "channel": "slack", "channel_config": {"webhook_url": "https://hooks.slack.com/services/T/B/X"}},
    ).data
    everything = api.post("/notification_policies/filter", {}).data
    assert [p["id"] for p in everything] == [slack["id"], second["id"], first["id"]]
    active = api.post("/notification_policies/filter", {"notification_policies": {"is_active": {"eq_": True}}}).data
    assert {p["id"] for p in active} == {first["id"], slack["id"]}
    webhooks = api.post("/notification_policies/filter", {"notification_policies": {"channel": {"any_": ["webhook"]}}}).data
    assert {p["id"] for p in webhooks} == {first["id"], second["id"]}
    by_id = api.post("/notification_policies/filter", {"notification_policies": {"id": {"any_": [first["id"]]}}, "limit": 5}).data
    assert [p["id"] for p in by_id] == [first["id"]]
    assert [p["id"] for p in api.post("/notification_policies/filter", {"limit": 1, "offset": 1}).data] == [second["id"]]
    assert api.post("/notification_policies/count", {}).data == 3
    assert api.post("/notification_policies/count", {"notification_policies": {"is_active": {"eq_": False}}}).data == 1


def test_test_message_and_delivery_log(api, policy_body, capture, make_run):
    policy = api.post("/notification_policies/", policy_body).data
    test = api.post(f"/notification_policies/{policy['id']}/test")
    assert test.status_code == 201
    assert test.data["is_test"] is True and test.data["status"] == "PENDING" and test.data["attempts"] == []
    deliveries.send_delivery(test.data["id"])

    run = make_run(tags=["prod"])
    enter(run, "FAILED")
    real = Delivery.objects.get(flow_run_id=run.id)
    capture.respond("/hooks/", [(400, {}, "bad")])
    deliveries.send_delivery(real.id)

    log = api.get(f"/notification_policies/{policy['id']}/deliveries").data
    assert [d["id"] for d in log] == [str(real.id), test.data["id"]]  # newest first
    assert log[0]["status"] == "FAILED" and log[0]["flow_run_id"] == str(run.id)
    assert log[0]["attempts"] == [
        {
            "number": 1, "started_at": log[0]["attempts"][0]["started_at"], "finished_at": log[0]["attempts"][0]["finished_at"],
            "status_code": 400, "error": "HTTP 400 Bad Request", "response_excerpt": "bad",
        }
    ]
    assert log[1]["status"] == "SENT" and log[1]["attempts"][0]["status_code"] == 200
    assert len(api.get(f"/notification_policies/{policy['id']}/deliveries?limit=1&offset=1").data) == 1
    assert api.get(f"/notification_policies/{policy['id']}/deliveries?limit=-1").status_code == 422

    failed = api.post("/notification_deliveries/filter", {"deliveries": {"status": {"any_": ["FAILED"]}}}).data
    assert [d["id"] for d in failed] == [str(real.id)]
    by_run = api.post("/notification_deliveries/filter", {"deliveries": {"flow_run_id": {"any_": [str(run.id)]}}}).data
    assert [d["id"] for d in by_run] == [str(real.id)]
    by_policy = api.post("/notification_deliveries/filter", {"deliveries": {"policy_id": {"any_": [policy["id"]]}}, "limit": 1}).data
    assert [d["id"] for d in by_policy] == [str(real.id)]
    assert api.post("/notification_deliveries/filter", {"deliveries": {"status": {"any_": ["LOST"]}}}).status_code == 422

    everything = json.dumps([api.post("/notification_deliveries/filter", {}).data, api.post("/notification_policies/filter", {}).data])
    assert URL_TOKEN not in everything and "header-secret" not in everything


def test_documented_in_openapi(api):
    paths = api.get("/openapi.json").data["paths"]
    for path in (
        "/api/notification_policies/", "/api/notification_policies/{id}", "/api/notification_policies/filter",
        "/api/notification_policies/count", "/api/notification_policies/{id}/pause", "/api/notification_policies/{id}/resume",
        "/api/notification_policies/{id}/test", "/api/notification_policies/{id}/deliveries", "/api/notification_deliveries/filter",
    ):
        assert path in paths, path

"""Each of the nine channels, end to end: a real failing flow run, a real delivery, the exact request.

A policy is created through the JSON API for one channel and one tag of the test's own; the prefect
client runs a flow with that tag that fails at once; the shared server's services send the message
to the session's capture server (webhook-style channels get a capture URL in their config, the
others reach it through the PREFECT_NOTIFICATIONS_*_URL settings the server was started with).
Tests share the capture server, so each picks out its own requests: by its own path, or by its
unique flow name.
"""

import base64
import json
import re
import uuid

import pytest

from .harness import wait_until

pytestmark = pytest.mark.e2e

DELIVERY_TIMEOUT = 60.0


@pytest.fixture(autouse=True)
def _needs_our_server(e2e_server):
    if e2e_server.backend == "external":
        pytest.skip("needs this project's server started with the capture server's base URLs")


def create_policy(api, channel: str, config: dict, tag: str) -> dict:
    response = api.post("/notification_policies/", json={
        "name": f"{channel} {tag}", "state_names": ["Failed"], "tags": [tag],
        "channel": channel, "channel_config": config,
    })
    assert response.status_code == 201, response.text
    return response.json()


def fail_a_tagged_run(api, run_flow, flow_name: str, tag: str) -> dict:
    """Run a flow with the prefect client that fails at once; its id and name (read back from the API)."""
    outcome = run_flow(f"""
        from prefect import flow, tags

        @flow(name={flow_name!r})
        def explode():
            raise RuntimeError("the reactor is on fire")

        with tags({tag!r}):
            state = explode(return_state=True)
        report(flow_run_id=str(state.state_details.flow_run_id), type=state.type.value)
    """)
    assert outcome.result["type"] == "FAILED"
    flow_run = api.get(f"/flow_runs/{outcome.result['flow_run_id']}").json()
    return {"flow_run_id": outcome.result["flow_run_id"], "name": flow_run["name"]}


def sent_delivery(api, policy: dict) -> dict:
    """The policy's one delivery, once the server has sent it."""

    def sent():
        response = api.get(f"/notification_policies/{policy['id']}/deliveries")
        assert response.status_code == 200, response.text
        deliveries = response.json()
        assert all(d["status"] != "FAILED" for d in deliveries), deliveries
        return deliveries if deliveries and deliveries[0]["status"] == "SENT" else None

    try:
        [delivery] = wait_until(sent, timeout=DELIVERY_TIMEOUT, interval=0.3, message="the delivery to be sent")
    except AssertionError as exc:
        deliveries = api.get(f"/notification_policies/{policy['id']}/deliveries").json()
        raise AssertionError(f"{exc}\ndeliveries of the policy: {deliveries}") from None
    return delivery


def captured(capture, match, count: int = 1) -> list:
    """This test's requests, found by `match`; exactly `count` of them (none doubled)."""
    found = wait_until(lambda: [r for r in list(capture.requests) if match(r)] or None,
                       timeout=DELIVERY_TIMEOUT, message="the request at the capture server")
    assert len(found) == count, [(r.method, r.path, r.body[:200]) for r in found]
    return found


def check_delivery(delivery: dict, run: dict, flow_name: str) -> None:
    assert delivery["flow_run_id"] == run["flow_run_id"] and not delivery["is_test"]
    assert delivery["subject"] == f"Flow run {flow_name}/{run['name']} entered Failed"
    assert delivery["body"].startswith(f"The {run['name']} run of the {flow_name} flow entered a failed state at ")
    assert run["flow_run_id"] in delivery["run_url"] and delivery["run_url"] in delivery["body"]
    assert [a["status_code"] for a in delivery["attempts"]][-1] in range(200, 300)


@pytest.fixture
def marker(unique_name):
    """A flow name and tag of this test's own, safe in a URL path ("[slack]" becomes "-slack-")."""
    return "ch-" + re.sub(r"[^a-z0-9-]", "-", unique_name.lower())


def test_webhook(api, capture, run_flow, marker):
    path = f"/webhook/{marker}"
    policy = create_policy(api, "webhook", {
        "url": f"{capture.url}{path}?token=s3cret", "method": "PUT",
        "headers": {"Authorization": "Bearer hook-token"},
        "body": '{"event": "{state_name}", "run": "{flow_run_name}", "flow": "{flow_name}", "why": "{state_message}"}',
    }, marker)
    assert "s3cret" not in json.dumps(policy) and "hook-token" not in json.dumps(policy)
    run = fail_a_tagged_run(api, run_flow, marker, marker)
    delivery = sent_delivery(api, policy)
    check_delivery(delivery, run, marker)
    [request] = captured(capture, lambda r: r.route == path)
    assert (request.method, request.path) == ("PUT", f"{path}?token=s3cret")
    assert request.header("Authorization") == "Bearer hook-token"
    assert request.header("Idempotency-Key") == delivery["id"]
    assert request.header("Content-Type") == "application/json"
    assert request.json == {
        "event": "Failed", "run": run["name"], "flow": marker,
        "why": request.json["why"],
    }
    assert "the reactor is on fire" in request.json["why"]


@pytest.mark.parametrize("channel", ["discord", "mattermost", "microsoft_teams", "slack"])
def test_chat_webhooks(api, capture, run_flow, marker, channel):
    path = f"/{channel}/{marker}/token"
    config = {"webhook_url": capture.url + path}
    if channel == "mattermost":
        config.update(channel="alerts", username="orchestrator")
    policy = create_policy(api, channel, config, marker)
    assert marker + "/token" not in json.dumps(policy)  # the URL carries the token: shown masked
    run = fail_a_tagged_run(api, run_flow, marker, marker)
    delivery = sent_delivery(api, policy)
    check_delivery(delivery, run, marker)
    [request] = captured(capture, lambda r: r.route == path)
    assert request.method == "POST" and request.header("Content-Type") == "application/json"
    body, run_url, run_name = delivery["body"], delivery["run_url"], run["name"]
    if channel == "discord":
        assert request.json == {"content": body, "allowed_mentions": {"parse": []}}
    elif channel == "mattermost":
        assert request.json == {"text": body, "channel": "alerts", "username": "orchestrator"}
    elif channel == "slack":
        assert request.json == {"text": body.replace(run_url, f"<{run_url}|{run_name}>")}
    else:
        assert request.json["type"] == "message"
        [attachment] = request.json["attachments"]
        assert attachment["contentType"] == "application/vnd.microsoft.card.adaptive"
        card = attachment["content"]
        assert (card["type"], card["version"]) == ("AdaptiveCard", "1.2")
        assert [block["text"] for block in card["body"]] == [delivery["subject"], body]
        assert card["actions"] == [{"type": "Action.OpenUrl", "title": "View the flow run", "url": run_url}]


def test_opsgenie(api, capture, run_flow, marker):
    policy = create_policy(api, "opsgenie", {"api_key": "genie-key-123", "priority": "P2"}, marker)
    assert "genie-key-123" not in json.dumps(policy)
    run = fail_a_tagged_run(api, run_flow, marker, marker)
    delivery = sent_delivery(api, policy)
    check_delivery(delivery, run, marker)
    [request] = captured(capture, lambda r: r.route == "/v2/alerts" and (r.json or {}).get("entity") == marker)
    assert request.method == "POST"
    assert request.header("Authorization") == "GenieKey genie-key-123"
    alert = request.json
    assert alert["message"] == delivery["subject"] and alert["description"] == delivery["body"]
    assert alert["alias"] == delivery["id"]
    assert alert["tags"] == [marker] and alert["priority"] == "P2"
    assert alert["details"]["flow_run_id"] == run["flow_run_id"]


def test_pagerduty(api, capture, run_flow, marker):
    routing_key = uuid.uuid4().hex
    policy = create_policy(api, "pagerduty", {"routing_key": routing_key, "severity": "critical"}, marker)
    assert routing_key not in json.dumps(policy)
    run = fail_a_tagged_run(api, run_flow, marker, marker)
    delivery = sent_delivery(api, policy)
    check_delivery(delivery, run, marker)
    [request] = captured(capture, lambda r: r.route == "/v2/enqueue" and (r.json or {}).get("routing_key") == routing_key)
    assert request.method == "POST" and request.header("Content-Type") == "application/json"
    event = request.json
    assert (event["event_action"], event["dedup_key"]) == ("trigger", delivery["id"])
    assert event["payload"]["summary"] == delivery["subject"]
    assert (event["payload"]["source"], event["payload"]["severity"]) == (marker, "critical")
    assert event["payload"]["custom_details"]["flow_run_id"] == run["flow_run_id"]
    assert event["links"] == [{"href": delivery["run_url"], "text": "View the flow run"}]


def test_sendgrid_email(api, capture, run_flow, marker):
    policy = create_policy(api, "sendgrid_email", {
        "api_key": "SG.secret", "sender": "alerts@example.com", "recipients": "ops@example.com, dev@example.org",
    }, marker)
    assert "SG.secret" not in json.dumps(policy)
    run = fail_a_tagged_run(api, run_flow, marker, marker)
    delivery = sent_delivery(api, policy)
    check_delivery(delivery, run, marker)
    [request] = captured(capture, lambda r: r.route == "/v3/mail/send" and marker in ((r.json or {}).get("subject") or ""))
    assert request.method == "POST"
    assert request.header("Authorization") == "Bearer SG.secret"
    assert request.json == {
        "personalizations": [{"to": [{"email": "ops@example.com"}]}, {"to": [{"email": "dev@example.org"}]}],
        "from": {"email": "alerts@example.com"},
        "subject": delivery["subject"],
        "content": [{"type": "text/plain", "value": delivery["body"]}],
    }


def test_twilio_sms(api, capture, run_flow, marker):
    sid = "AC" + uuid.uuid4().hex
    policy = create_policy(api, "twilio_sms", {
        "account_sid": sid, "auth_token": "twilio-token", "from_number": "+14155550100",
        "to_numbers": ["+14155550123", "+447700900123"],
    }, marker)
    assert "twilio-token" not in json.dumps(policy)
    run = fail_a_tagged_run(api, run_flow, marker, marker)
    delivery = sent_delivery(api, policy)
    check_delivery(delivery, run, marker)
    path = f"/2010-04-01/Accounts/{sid}/Messages.json"
    requests = captured(capture, lambda r: r.route == path, count=2)
    basic = "Basic " + base64.b64encode(f"{sid}:twilio-token".encode()).decode()
    for request, number in zip(requests, ["+14155550123", "+447700900123"]):
        assert request.method == "POST"
        assert request.header("Authorization") == basic
        assert request.header("Content-Type") == "application/x-www-form-urlencoded"
        assert request.form == {"To": [number], "From": ["+14155550100"], "Body": [delivery["body"]]}

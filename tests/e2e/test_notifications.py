"""Notifications end to end: a real failing flow run (prefect client) against the shared server, whose
qcluster sends the deliveries to the session's capture server through the webhook channel.

One flow run serves several policies at once: one that sends at first try, one whose service answers
500 before 200 (the shared server retries after PREFECT_NOTIFICATIONS_RETRY_BACKOFF_SECONDS=1), one
paused, one for another state. Each policy posts to its own path of the capture server.
"""

import json
import uuid
from pathlib import Path

import pytest

from .harness import wait_until

pytestmark = pytest.mark.e2e

WEBHOOK_CHANNEL = Path(__file__).resolve().parents[2] / "notifications" / "channels" / "webhook.py"


def ok(response, status: int = 200):
    assert response.status_code == status, f"{response.request.method} {response.request.url}: {response.status_code} {response.text}"
    return response.json() if response.content else None


@pytest.fixture(scope="module")
def scenario(e2e_server, capture, tmp_path_factory):
    if not WEBHOOK_CHANNEL.exists():
        pytest.skip("the webhook channel (notifications/channels/webhook.py) is not there yet")
    from .harness import run_flow_script

    marker = uuid.uuid4().hex[:10]
    tag, token = f"notify-{marker}", f"secret-{marker}-token"
    paths = {name: f"/e2e-notify-{marker}/{name}/{token}" for name in ("once", "retried", "paused", "completed")}
    capture.respond(paths["retried"], [(500, {}, "try again"), (200, {}, "ok")])

    with e2e_server.client() as api:
        def create(name, state_names):
            body = {
                "name": f"{name}-{marker}",
                "state_names": state_names,
                "tags": [tag],
                "channel": "webhook",
                "channel_config": {"url": capture.url + paths[name], "headers": {"X-Token": token}},
            }
            return ok(api.post("notification_policies/", json=body), 201)

        policies = {
            "once": create("once", ["Failed"]),
            "retried": create("retried", ["failed", "Crashed"]),
            "paused": create("paused", ["Failed"]),
            "completed": create("completed", ["Completed"]),
        }
        ok(api.post(f"notification_policies/{policies['paused']['id']}/pause"), 204)

        outcome = run_flow_script(
            e2e_server.api_url,
            f"""
            from prefect import flow, tags

            @flow(name="notify-{marker}")
            def explode():
                raise RuntimeError("the reactor is on fire")

            with tags({tag!r}):
                state = explode(return_state=True)
            report(flow_run_id=state.state_details.flow_run_id, type=state.type.value)
            """,
            workdir=tmp_path_factory.mktemp("notify"),
        )
        assert outcome.result is not None, outcome.describe()
        assert outcome.result["type"] == "FAILED"

        def deliveries_of(name):
            return ok(api.get(f"notification_policies/{policies[name]['id']}/deliveries"))

        last = {}

        def settled():
            last.update({name: deliveries_of(name) for name in policies})
            done = all(d["status"] in ("SENT", "FAILED") for name in ("once", "retried") for d in last[name])
            return dict(last) if done and last["once"] and last["retried"] else None

        try:
            found = wait_until(settled, timeout=60, interval=0.5, message="both deliveries to be sent")
        except AssertionError:
            log = e2e_server.workdir / "serve.out"
            tail = log.read_text(errors="replace")[-4000:] if log.exists() else ""
            pytest.fail(f"Deliveries not sent within 60 s: {json.dumps(last, indent=1)}\nserver output:\n{tail}")
        policy_listing = api.post("notification_policies/filter", json={}).text
    return {
        "marker": marker, "token": token, "paths": paths, "policies": policies, "deliveries": found,
        "flow_run_id": outcome.result["flow_run_id"], "policy_listing": policy_listing,
    }


def requests_to(capture, path):
    return [request for request in capture.requests if request.route == path]


def test_a_failing_run_sends_exactly_one_message(scenario, capture, e2e_server):
    (delivery,) = scenario["deliveries"]["once"]
    assert delivery["status"] == "SENT" and delivery["flow_run_id"] == scenario["flow_run_id"]
    assert [a["status_code"] for a in delivery["attempts"]] == [200]
    (request,) = requests_to(capture, scenario["paths"]["once"])
    assert request.method == "POST"
    assert request.header("Idempotency-Key") == delivery["id"]
    assert request.header("X-Token") == scenario["token"]
    payload = request.json
    assert payload["flow_run_id"] == scenario["flow_run_id"]
    assert payload["state_name"] == "Failed" and payload["flow_name"] == f"notify-{scenario['marker']}"
    assert payload["body"].startswith(f"The {payload['flow_run_name']} run of the notify-{scenario['marker']} flow entered a failed state at ")
    assert payload["body"].endswith(f"/runs/{scenario['flow_run_id']}/")
    if e2e_server.backend != "external":  # the link points at the server that sent it (serve --port)
        assert delivery["run_url"] == e2e_server.api_url.removesuffix("/api") + f"/runs/{scenario['flow_run_id']}/"


def test_a_500_is_retried_with_the_same_idempotency_key(scenario, capture):
    (delivery,) = scenario["deliveries"]["retried"]
    assert delivery["status"] == "SENT" and delivery["attempt_count"] == 2
    assert [(a["status_code"], a["response_excerpt"]) for a in delivery["attempts"]] == [(500, "try again"), (200, "ok")]
    first, second = requests_to(capture, scenario["paths"]["retried"])
    assert first.header("Idempotency-Key") == second.header("Idempotency-Key") == delivery["id"]
    assert first.body == second.body


def test_paused_and_non_matching_policies_send_nothing(scenario, capture):
    # The outbox rows are written with the state, so once the run is Failed this is final.
    assert scenario["deliveries"]["paused"] == [] and scenario["deliveries"]["completed"] == []
    assert requests_to(capture, scenario["paths"]["paused"]) == []
    assert requests_to(capture, scenario["paths"]["completed"]) == []


def test_secrets_are_not_shown_by_the_api(scenario):
    shown = json.dumps(scenario["policies"]) + scenario["policy_listing"] + json.dumps(scenario["deliveries"])
    assert scenario["token"] not in shown
    assert scenario["policies"]["once"]["channel_config"]["url"] == "http://127.0.0.1/********"
    assert scenario["policies"]["once"]["channel_config"]["headers"] == {"X-Token": "********"}

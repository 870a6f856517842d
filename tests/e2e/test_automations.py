"""Automations evaluated by the real server: a failing tagged flow (real client) trips a reactive
trigger whose action runs a deployment."""

import pytest

from .harness import wait_until

pytestmark = pytest.mark.e2e


def ok(response, status=200):
    assert response.status_code == status, response.text
    return response.json() if response.content else None


def events_named(api, name: str, resource_id: str) -> list[dict]:
    body = {"filter": {"event": {"name": [name]}, "resource": {"id": [resource_id]}}, "limit": 50}
    return ok(api.post("events/filter", json=body))["events"]


def test_a_failed_tagged_flow_run_triggers_a_deployment_run(api, run_flow, unique_name, e2e_server):
    flow = ok(api.post("flows/", json={"name": f"target-{unique_name}"}), 201)
    deployment = ok(api.post("deployments/", json={
        "name": "on-failure", "flow_id": flow["id"], "parameter_openapi_schema": {"type": "object", "properties": {}},
    }), 201)
    automation = ok(api.post("automations/", json={
        "name": f"rerun-{unique_name}",
        "trigger": {
            "posture": "Reactive", "expect": ["prefect.flow-run.Failed"], "threshold": 1, "within": 0,
            "match": {"prefect.resource.id": "prefect.flow-run.*"},
            "match_related": {"prefect.resource.id": f"prefect.tag.{unique_name}"},
        },
        "actions": [{"type": "run-deployment", "source": "selected", "deployment_id": deployment["id"],
                     "parameters": {}}],
    }), 201)

    outcome = run_flow(f"""
        from prefect import flow, tags

        @flow(name="explode-{unique_name}")
        def explode():
            raise RuntimeError("boom")

        with tags({unique_name!r}):
            state = explode(return_state=True)
        report(type=state.type.value)
        """)
    assert outcome.result["type"] == "FAILED"

    def deployment_runs():
        body = {"deployments": {"id": {"any_": [deployment["id"]]}}}
        return ok(api.post("flow_runs/filter", json=body))

    try:
        runs = wait_until(deployment_runs, timeout=30, message="the automation's deployment run")
    except AssertionError:
        server_output = e2e_server.workdir / "serve.out"
        tail = server_output.read_text()[-4000:] if server_output.exists() else "(no server output)"
        pytest.fail(f"No deployment run appeared. Server output:\n{tail}")
    assert len(runs) == 1 and runs[0]["state"]["type"] == "SCHEDULED"

    automation_resource = f"prefect.automation.{automation['id']}"
    triggered = wait_until(lambda: events_named(api, "prefect.automation.triggered", automation_resource), timeout=15)
    executed = wait_until(lambda: events_named(api, "prefect.automation.action.executed", automation_resource), timeout=15)
    assert triggered[0]["payload"]["triggering_event"]["event"] == "prefect.flow-run.Failed"
    roles = {r["prefect.resource.role"]: r["prefect.resource.id"] for r in executed[0]["related"]}
    assert roles["target"] == f"prefect.deployment.{deployment['id']}"
    assert roles["flow-run"] == f"prefect.flow-run.{runs[0]['id']}"
    assert roles["automation-triggered-event"] == f"prefect.event.{triggered[0]['id']}"
    # A second run of another, untagged failing flow does not trigger it again.
    assert len(deployment_runs()) == 1

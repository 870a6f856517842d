import json
import uuid

import pytest


def set_state(api, run, type_, name=None, **details):
    return api.post(f"/flow_runs/{run['id']}/set_state",
                    {"state": {"type": type_, "name": name, "state_details": details}}).data


@pytest.fixture
def paused_run(api, make_flow_run):
    """A running run paused waiting for `{"value": <int>}`, as pause_flow_run(wait_for_input=int) leaves it."""
    run = make_flow_run()
    set_state(api, run, "RUNNING")
    schema = {"type": "object", "properties": {"value": {"type": "integer"}}, "required": ["value"]}
    api.post(f"/flow_runs/{run['id']}/input", {"key": "paused-1-schema", "value": json.dumps(schema)})
    keyset = {"description": "paused-1-description", "response": "paused-1-response", "schema": "paused-1-schema"}
    assert set_state(api, run, "PAUSED", "Paused", pause_key="1", run_input_keyset=keyset)["status"] == "ACCEPT"
    return run


class TestResumeFlowRun:
    def test_resuming_with_valid_input_runs_again_and_stores_the_input(self, api, paused_run):
        response = api.post(f"/flow_runs/{paused_run['id']}/resume", {"run_input": {"value": 21}})
        assert response.status_code == 201 and response.data["status"] == "ACCEPT"
        assert response.data["state"]["type"] == "RUNNING"
        stored = api.client.get(f"/api/flow_runs/{paused_run['id']}/input/paused-1-response")
        assert json.loads(stored.content) == {"value": 21}

    def test_input_that_does_not_match_the_schema_is_rejected_and_the_run_stays_paused(self, api, paused_run):
        response = api.post(f"/flow_runs/{paused_run['id']}/resume", {"run_input": {"value": "many"}})
        assert response.status_code == 200 and response.data["status"] == "REJECT"
        assert "value" in response.data["details"]["reason"]
        assert api.get(f"/flow_runs/{paused_run['id']}").data["state_type"] == "PAUSED"
        assert api.get(f"/flow_runs/{paused_run['id']}/input/paused-1-response").status_code == 404

    @pytest.mark.parametrize("schema", [
        {"type": "object", "properties": {"value": {"$ref": "#/$defs/missing"}}},
        {"$ref": "#"},
    ], ids=["unresolvable-ref", "self-reference"])
    def test_a_broken_stored_schema_rejects_the_input_instead_of_failing(self, api, make_flow_run, schema):
        run = make_flow_run()
        set_state(api, run, "RUNNING")
        api.post(f"/flow_runs/{run['id']}/input", {"key": "k-schema", "value": json.dumps(schema)})
        keyset = {"description": "k-description", "response": "k-response", "schema": "k-schema"}
        set_state(api, run, "PAUSED", "Paused", pause_key="k", run_input_keyset=keyset)
        response = api.post(f"/flow_runs/{run['id']}/resume", {"run_input": {"value": 1}})
        assert response.status_code == 200 and response.data["status"] == "REJECT"
        assert "Invalid run input schema" in response.data["details"]["reason"]

    def test_an_empty_answer_is_stored_for_the_flow_to_read(self, api, make_flow_run):
        run = make_flow_run()
        set_state(api, run, "RUNNING")
        schema = {"type": "object", "properties": {"note": {"type": "string"}}}
        api.post(f"/flow_runs/{run['id']}/input", {"key": "e-schema", "value": json.dumps(schema)})
        keyset = {"description": "e-description", "response": "e-response", "schema": "e-schema"}
        set_state(api, run, "PAUSED", "Paused", pause_key="e", run_input_keyset=keyset)
        assert api.post(f"/flow_runs/{run['id']}/resume", {"run_input": {}}).data["status"] == "ACCEPT"
        stored = api.client.get(f"/api/flow_runs/{run['id']}/input/e-response")
        assert stored.status_code == 200 and json.loads(stored.content) == {}

    def test_a_pause_without_input_resumes_with_an_empty_body(self, api, make_flow_run):
        run = make_flow_run()
        set_state(api, run, "RUNNING")
        set_state(api, run, "PAUSED", "Paused", pause_key="p")
        response = api.post(f"/flow_runs/{run['id']}/resume", raw="")
        assert response.data["status"] == "ACCEPT" and response.data["state"]["type"] == "RUNNING"

    def test_a_suspended_run_is_rescheduled_as_resuming(self, api, flow):
        deployment = api.post("/deployments/", {"name": "d", "flow_id": flow["id"], "enforce_parameter_schema": False}).data
        run = api.post(f"/deployments/{deployment['id']}/create_flow_run", {}).data
        set_state(api, run, "PENDING")
        set_state(api, run, "RUNNING")
        set_state(api, run, "PAUSED", "Suspended", pause_key="s", pause_reschedule=True)
        response = api.post(f"/flow_runs/{run['id']}/resume", {"run_input": None})
        assert (response.data["status"], response.data["state"]["type"], response.data["state"]["name"]) == (
            "ACCEPT", "SCHEDULED", "Resuming")

    def test_a_run_that_is_not_paused_aborts(self, api, make_flow_run):
        response = api.post(f"/flow_runs/{make_flow_run()['id']}/resume", {})
        assert response.status_code == 200
        assert response.data == {"state": None, "status": "ABORT",
                                 "details": {"type": "abort_details", "reason": "Cannot resume a flow run that is not paused."}}

    def test_an_unknown_run_is_a_404(self, api, db):
        assert api.post(f"/flow_runs/{uuid.uuid4()}/resume", {}).status_code == 404


class TestFlowRunInputs:
    def test_create_read_filter_delete(self, api, make_flow_run):
        run = make_flow_run()
        path = f"/flow_runs/{run['id']}/input"
        assert api.post(path, {"key": "msg-1", "value": '"hello"', "sender": "other"}).status_code == 201
        assert api.post(path, {"key": "msg-2", "value": '"again"'}).status_code == 201
        assert api.post(path, {"key": "msg-1", "value": '"dup"'}).status_code == 409
        raw = api.client.get(f"/api{path}/msg-1")
        assert raw.status_code == 200 and raw.content == b'"hello"'
        found = api.post(f"{path}/filter", {"prefix": "msg-", "limit": 5, "exclude_keys": ["msg-2"]}).data
        assert [(item["key"], item["sender"]) for item in found] == [("msg-1", "other")]
        assert api.delete(f"{path}/msg-1").status_code == 204
        assert api.delete(f"{path}/msg-1").status_code == 404
        assert api.get(f"{path}/msg-1").status_code == 404

    def test_inputs_of_unknown_runs_and_bad_keys_are_refused(self, api, make_flow_run):
        assert api.post(f"/flow_runs/{uuid.uuid4()}/input", {"key": "k", "value": "1"}).status_code == 404
        run = make_flow_run()
        assert api.post(f"/flow_runs/{run['id']}/input", {"key": "", "value": "1"}).status_code == 422
        assert api.post(f"/flow_runs/{run['id']}/input", {"key": "k"}).status_code == 422

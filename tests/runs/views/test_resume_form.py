"""The run page's Resume button, and the form generated from the input schema a paused run waits for."""

import json
import uuid
from datetime import timedelta

import pytest
from django.utils import timezone

from runs.domain import flow_run_inputs, flow_runs, schema_forms
from runs.models import FlowRunInput

from .test_deployments import flashed

# What pydantic makes of a RunInput with these fields (prefect's RunInput.model_json_schema()).
APPROVAL_SCHEMA = {
    "$defs": {"Color": {"enum": ["red", "blue"], "title": "Color", "type": "string"}},
    "additionalProperties": False,
    "properties": {
        "name": {"title": "Name", "type": "string", "description": "Who <approves>"},
        "age": {"default": 30, "title": "Age", "type": "integer", "minimum": 0},
        "ratio": {"default": 0.5, "title": "Ratio", "type": "number"},
        "ok": {"default": False, "title": "Ok", "type": "boolean"},
        "color": {"$ref": "#/$defs/Color", "default": "red"},
        "tags": {"default": [], "items": {"type": "string"}, "title": "Tags", "type": "array"},
        "note": {"anyOf": [{"type": "string"}, {"type": "null"}], "default": None, "title": "Note"},
        "count": {"anyOf": [{"type": "integer"}, {"type": "null"}], "default": None, "title": "Count"},
    },
    "required": ["name"],
    "title": "Approval",
    "type": "object",
}
KEYSET = {"description": "paused-1-description", "response": "paused-1-response", "schema": "paused-1-schema"}
VALID = {"resume-form": "1", "name": "Ada", "age": "31", "ratio": "0.25", "ok": "on", "color": "blue",
         "tags": '["a", "b"]', "note": "", "count": "3"}


def pause(records, *, schema=APPROVAL_SCHEMA, description=None, keyset=KEYSET, just_now=False):
    """A running run paused as pause_flow_run(wait_for_input=...) leaves it (no input when keyset is None);
    its inputs were stored a minute ago unless `just_now`."""
    run = records.flow_run(records.flow(), states=("RUNNING",))
    if keyset:
        flow_run_inputs.create_flow_run_input(flow_run_id=run.id, key=keyset["schema"], value=json.dumps(schema))
        if description:
            flow_run_inputs.create_flow_run_input(flow_run_id=run.id, key=keyset["description"], value=json.dumps(description))
        if not just_now:
            FlowRunInput.objects.filter(flow_run_id=run.id).update(created=timezone.now() - timedelta(minutes=1))
    details = {"pause_key": "1", "run_input_keyset": keyset} if keyset else {"pause_key": "1"}
    result = flow_runs.set_flow_run_state(flow_run_id=run.id, state={"type": "PAUSED", "name": "Paused", "state_details": details})
    assert result.status == "ACCEPT"
    return run


def state_of(run):
    return flow_runs.read_flow_run(flow_run_id=run.id).state_type


def stored_answer(run):
    row = FlowRunInput.objects.filter(flow_run_id=run.id, key=KEYSET["response"]).first()
    return json.loads(row.value) if row else None


class TestTheRunPage:
    def test_a_paused_run_without_input_has_a_resume_button(self, client, records):
        run = pause(records, keyset=None)
        page = client.get(f"/runs/{run.id}/").content.decode()
        assert 'id="resume-panel"' in page and f'action="/runs/{run.id}/resume/"' in page
        assert 'id="resume-form"' not in page
        response = client.post(f"/runs/{run.id}/resume/")
        assert response.status_code == 302 and response.url == f"/runs/{run.id}/"
        assert flashed(response) == ["Flow run resumed."] and state_of(run) == "RUNNING"

    def test_a_run_waiting_for_input_shows_a_form_from_its_schema(self, client, records):
        run = pause(records, description="Approve the <b>load</b>?")
        page = client.get(f"/runs/{run.id}/").content.decode()
        assert 'id="resume-form"' in page
        for html in (
            'type="text" id="input-name" name="name" value="" required',
            'type="number" id="input-age" name="age" value="30" step="1"',
            'type="number" id="input-ratio" name="ratio" value="0.5" step="any"',
            'type="checkbox" id="input-ok" name="ok" >',
            '<option value="red" selected>red</option>',
            '<textarea id="input-tags" name="tags"',
            'type="number" id="input-count" name="count" value="" step="1" >',
        ):
            assert html in page, html
        assert page.index('id="input-name"') < page.index('id="input-age"') < page.index('id="input-count"')
        # Titles, descriptions and the run's description are shown, and escaped.
        assert "Who &lt;approves&gt;" in page and "Approve the &lt;b&gt;load&lt;/b&gt;?" in page
        assert "<b>load</b>" not in page

    def test_a_run_that_is_not_paused_has_no_resume_panel_but_polls_for_a_pause(self, client, records):
        running = records.flow_run(records.flow(), states=("RUNNING",))
        page = client.get(f"/runs/{running.id}/").content.decode()
        assert '<div id="resume-panel" hx-get=' in page and "Resume</button>" not in page
        done = records.flow_run(records.flow(), states=("RUNNING", "COMPLETED"))
        assert 'id="resume-panel"' not in client.get(f"/runs/{done.id}/").content.decode()

    def test_the_panel_refreshes_alone_and_brings_the_form_once_the_run_pauses(self, htmx_client, records):
        run = pause(records)
        fragment = htmx_client.fragment(f"/runs/{run.id}/", "resume-panel").content.decode()
        assert fragment.strip().startswith('<section id="resume-panel"') and 'id="resume-form"' in fragment
        assert "State history" not in fragment

    def test_an_unknown_run_is_a_404(self, client, db):
        assert client.post(f"/runs/{uuid.uuid4()}/resume/", {"resume-form": "1"}).status_code == 404


class TestSubmittingTheForm:
    def test_valid_input_resumes_the_run_with_typed_values(self, client, records):
        run = pause(records)
        response = client.post(f"/runs/{run.id}/resume/", VALID)
        assert response.status_code == 302 and flashed(response) == ["Flow run resumed."]
        assert state_of(run) == "RUNNING"
        assert stored_answer(run) == {
            "name": "Ada", "age": 31, "ratio": 0.25, "ok": True, "color": "blue", "tags": ["a", "b"],
            "note": None, "count": 3,
        }

    def test_an_htmx_submit_is_redirected_to_the_run_page(self, client, records):
        run = pause(records)
        response = client.post(f"/runs/{run.id}/resume/", VALID, HTTP_HX_REQUEST="true", HTTP_HX_TARGET="resume-panel")
        assert response.status_code == 204 and response.headers["HX-Redirect"] == f"/runs/{run.id}/"
        assert state_of(run) == "RUNNING"

    def test_bad_values_are_shown_next_to_their_fields_and_the_run_stays_paused(self, client, records):
        run = pause(records)
        response = client.post(f"/runs/{run.id}/resume/", {
            **VALID, "name": "", "age": "-1", "ratio": "lots", "color": "green", "tags": "[unclosed",
        })
        assert response.status_code == 422
        page = response.content.decode()
        errors = {field["name"]: field["error"] for field in response.context["resume"].fields if field["error"]}
        assert errors == {
            "age": "-1 is less than the minimum of 0", "ratio": "'lots' is not a valid number.",
            "color": "'green' is not one of the choices.", "tags": "'[unclosed' is not valid JSON.",
        }
        assert 'id="input-ratio-error" role="alert">&#x27;lots&#x27; is not a valid number.</p>' in page
        assert 'aria-invalid="true"' in page
        assert 'value="lots"' in page  # what was typed is kept
        assert state_of(run) == "PAUSED" and stored_answer(run) is None

    def test_values_the_schema_rejects_are_shown_next_to_their_fields(self, client, records):
        run = pause(records)
        response = client.post(f"/runs/{run.id}/resume/", {**VALID, "name": "", "age": "-1", "tags": '{"a": 1}'})
        # An empty string is a string; the schema's own rules (minimum, types) catch the rest.
        errors = {field["name"]: field["error"] for field in response.context["resume"].fields if field["error"]}
        assert errors == {"age": "-1 is less than the minimum of 0", "tags": "{'a': 1} is not of type 'array'"}
        assert response.status_code == 422 and state_of(run) == "PAUSED"

    def test_a_missing_required_field_is_reported_on_that_field(self, client, records):
        run = pause(records, schema={"type": "object", "properties": {"value": {"type": "integer", "title": "Value"}},
                                     "required": ["value"]})
        response = client.post(f"/runs/{run.id}/resume/", {"resume-form": "1", "value": ""},
                               HTTP_HX_REQUEST="true", HTTP_HX_TARGET="resume-panel")
        assert response.status_code == 422
        fragment = response.content.decode()
        assert fragment.strip().startswith('<section id="resume-panel"')
        assert 'id="input-value-error" role="alert">This field is required.' in fragment
        assert state_of(run) == "PAUSED"

    def test_the_resume_button_elsewhere_sends_to_the_form_instead_of_resuming_without_input(self, client, records):
        run = pause(records)
        response = client.post(f"/runs/{run.id}/resume/", {"next": "/deployments/"})
        assert response.url == f"/runs/{run.id}/" and "waits for input" in flashed(response)[0]
        assert state_of(run) == "PAUSED"

    def test_a_schema_stored_just_now_without_description_waits_a_moment_for_it(self, client, records):
        run = pause(records, just_now=True)  # the client stores the description right after the schema
        page = client.get(f"/runs/{run.id}/").content.decode()
        assert "its input form is on its way" in page and 'id="resume-form"' not in page
        FlowRunInput.objects.filter(flow_run_id=run.id).update(created=timezone.now() - timedelta(seconds=6))
        assert 'id="resume-form"' in client.get(f"/runs/{run.id}/").content.decode()  # none came: no description

    def test_until_the_schema_arrives_the_panel_waits_for_it_and_nothing_is_resumed(self, client, records):
        # The client pauses the run first and stores the input schema a moment later.
        run = pause(records)
        FlowRunInput.objects.filter(flow_run_id=run.id, key=KEYSET["schema"]).delete()
        page = client.get(f"/runs/{run.id}/").content.decode()
        assert "its input form is on its way" in page and 'id="resume-form"' not in page
        assert 'hx-trigger="every 2s"' in page  # the panel looks again by itself
        response = client.post(f"/runs/{run.id}/resume/", {"resume-form": "1"})
        assert response.status_code == 422 and state_of(run) == "PAUSED"

    @pytest.mark.parametrize("schema", [
        {"type": "object", "properties": {"x": {"type": "nonsense"}}},
        {"type": "object", "properties": {"x": {"$ref": "#/nowhere"}}},
        {"type": "object", "properties": {"x": {"$ref": "#/properties/x"}}},
    ])
    def test_a_broken_schema_is_reported_not_a_crash(self, client, records, schema):
        run = pause(records, schema=schema)
        assert client.get(f"/runs/{run.id}/").status_code == 200
        response = client.post(f"/runs/{run.id}/resume/", {"resume-form": "1", "x": "1"})
        assert response.status_code == 422 and "The schema is not valid" in response.content.decode()
        assert state_of(run) == "PAUSED"

    def test_a_run_no_longer_paused_is_reported(self, client, records):
        run = records.flow_run(records.flow(), states=("RUNNING", "COMPLETED"))
        response = client.post(f"/runs/{run.id}/resume/", {"resume-form": "1"})
        assert "not paused" in flashed(response)[0]

    def test_next_only_leads_back_into_this_site(self, client, records):
        run = pause(records, keyset=None)
        response = client.post(f"/runs/{run.id}/resume/", {"next": "https://evil.example/"})
        assert response.url == f"/runs/{run.id}/"


class TestSchemaForms:
    """The schema <-> form mapping shared by the run form and the resume form."""

    @pytest.mark.parametrize("spec, raw, expected", [
        ({"type": "integer"}, "7", 7),
        ({"type": "number"}, "1e3", 1000.0),
        ({"type": "string"}, "", ""),
        ({"enum": [1, 2]}, "2", 2),
        ({"type": "object"}, '{"a": [1]}', {"a": [1]}),
        ({"anyOf": [{"type": "integer"}, {"type": "null"}]}, "", None),
        ({"allOf": [{"$ref": "#/definitions/Size"}]}, "L", "L"),
    ])
    def test_values_are_typed_from_the_schema(self, spec, raw, expected):
        schema = {"type": "object", "properties": {"x": spec}, "definitions": {"Size": {"enum": ["S", "L"]}}}
        assert schema_forms.parse_form(schema, {"x": raw}) == ({"x": expected}, {})

    @pytest.mark.parametrize("raw", ["nan", "inf", "NaN"])
    def test_numbers_json_cannot_carry_are_refused(self, raw):
        for spec in ({"type": "number"}, {"type": "array"}):
            _, errors = schema_forms.parse_form({"properties": {"x": spec}}, {"x": raw})
            assert "x" in errors

    def test_an_empty_optional_field_is_left_to_its_default(self):
        assert schema_forms.parse_form({"properties": {"n": {"type": "integer", "default": 3}}}, {"n": ""}) == ({}, {})

    def test_a_property_name_is_escaped_in_the_page(self, client, records):
        run = pause(records, schema={"type": "object", "properties": {'"><script>x</script>': {"type": "string"}}})
        page = client.get(f"/runs/{run.id}/").content.decode()
        assert "<script>x</script>" not in page and "&quot;&gt;&lt;script&gt;" in page

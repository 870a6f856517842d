from datetime import datetime, timezone
from types import SimpleNamespace

import pytest

from notifications import messages

RUN_ID = "0b7c5b0e-0000-4000-8000-000000000001"
from runs.domain.errors import InvalidInput


def facts(**overrides):
    run = SimpleNamespace(id="0b7c5b0e-0000-4000-8000-000000000001", name="fuzzy-leopard", tags=["prod", "etl"])
    flow = SimpleNamespace(name="daily-etl")
    state = SimpleNamespace(
        name="Failed", type="FAILED", message="boom", timestamp=datetime(2026, 6, 27, 16, 21, 37, 123456, tzinfo=timezone.utc)
    )
    for key, value in overrides.items():
        setattr(state, key, value)
    return messages.facts_for(run, flow, state)


@pytest.mark.parametrize(
    "template",
    ["", "plain text", "{flow_name} {flow_run_name} {flow_run_id} {state_name} {state_type} {state_message} "
     "{timestamp} {tags} {run_url}", "literal {{braces}} and {flow_name}", "{flow_name:>20}"],
)
def test_valid_templates_pass(template):
    assert messages.validate_template(template) == template


def test_unknown_placeholders_are_each_named():
    with pytest.raises(InvalidInput) as caught:
        messages.validate_template("{flow_name} {flow_nmae} {secret} {flow_nmae}")
    text = str(caught.value)
    assert "{flow_nmae}" in text and "{secret}" in text and "{flow_name}," not in text.split("Known")[0]


@pytest.mark.parametrize("template", ["{flow_name", "flow_name}", "{", "}"])
def test_malformed_braces_are_refused(template):
    with pytest.raises(InvalidInput, match="brace"):
        messages.validate_template(template)


@pytest.mark.parametrize("template", ["{}", "{0}", "{flow_name.upper}", "{tags[0]}", "{flow_name!r:{state_name}}"])
def test_positional_attribute_and_index_fields_are_refused(template):
    with pytest.raises(InvalidInput, match="Unknown placeholder"):
        messages.validate_template(template)


def test_default_message_reads_as_a_sentence_with_the_run_link(db):
    subject, body = messages.render("", facts())
    assert subject == "Flow run daily-etl/fuzzy-leopard entered Failed"
    sentence, link = body.split("\n")
    assert sentence == "The fuzzy-leopard run of the daily-etl flow entered a failed state at 2026-06-27 16:21:37 UTC."
    assert link == "http://127.0.0.1:4200/runs/0b7c5b0e-0000-4000-8000-000000000001/"


def test_timestamp_is_shown_in_utc():
    from datetime import timedelta

    local = datetime(2026, 6, 27, 18, 21, 37, tzinfo=timezone(timedelta(hours=2)))
    assert messages.format_timestamp(local) == "2026-06-27 16:21:37 UTC"


def test_template_renders_every_placeholder(db):
    _, body = messages.render("{flow_run_name}|{state_type}|{state_message}|{tags}|{{x}}", facts())
    assert body == "fuzzy-leopard|FAILED|boom|prod, etl|{x}"


def test_run_url_prefers_the_ui_url_setting(db, prefect_settings):
    prefect_settings(PREFECT_UI_URL="https://prefect.example.com/")
    assert messages.run_url(RUN_ID) == f"https://prefect.example.com/runs/{RUN_ID}/"
    prefect_settings(PREFECT_UI_URL=None, PREFECT_SERVER_API_HOST="10.0.0.5", PREFECT_SERVER_API_PORT="8080")
    assert messages.run_url(RUN_ID) == f"http://10.0.0.5:8080/runs/{RUN_ID}/"

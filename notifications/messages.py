"""What a notification says: the placeholders a template may use, the default text, the run link.

Templates use str.format syntax ("{flow_name} failed", "{{" for a literal brace). They are checked
when a policy is saved (validate_template) and rendered when the state is written, so the message
records the run as it was then.
"""

from __future__ import annotations

import string
from datetime import datetime, timezone

from django.conf import settings
from django.urls import reverse

from runs.domain.errors import InvalidInput

from .channels.base import PLACEHOLDERS, Message


DEFAULT_SENTENCE = "The {flow_run_name} run of the {flow_name} flow entered a {state_name_lower} state at {timestamp}."
SUBJECT = "Flow run {flow_name}/{flow_run_name} entered {state_name}"

# The run a test message describes: plausible values, so a custom template shows what it will look like.
SAMPLE_FACTS = {
    "flow_run_name": "sample-run",
    "flow_run_id": "00000000-0000-0000-0000-000000000000",
    "flow_name": "sample-flow",
    "state_name": "Failed",
    "state_type": "FAILED",
    "state_message": "This is a test message: no flow run changed state.",
    "tags": "",
}


def validate_template(text: str) -> str:
    """The template unchanged, or InvalidInput naming every unknown placeholder or the bad brace."""
    if not isinstance(text, str):
        raise InvalidInput("The message template must be text.")
    try:
        parts = list(string.Formatter().parse(text))
    except ValueError as exc:
        raise InvalidInput(f"The message template has a malformed brace: {exc}. Write {{{{ and }}}} for literal braces.") from None
    unknown = []
    for _, field_name, format_spec, _ in parts:
        if field_name is None:
            continue
        if field_name not in PLACEHOLDERS:
            unknown.append(field_name or "{}")
        elif format_spec and "{" in format_spec:
            unknown.append(f"{field_name}:{format_spec}")
    if unknown:
        names = ", ".join("{" + name + "}" if not name.startswith("{") else name for name in dict.fromkeys(unknown))
        known = ", ".join("{" + name + "}" for name in PLACEHOLDERS)
        raise InvalidInput(f"Unknown placeholder(s) in the message template: {names}. Known placeholders: {known}.")
    try:
        text.format(**{name: "x" for name in PLACEHOLDERS})
    except (ValueError, IndexError, KeyError) as exc:
        raise InvalidInput(f"The message template cannot be rendered: {exc}.") from None
    return text


def format_timestamp(moment: datetime) -> str:
    """'2026-06-27 16:21:37 UTC': UTC, to the second."""
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


def server_url() -> str:
    configured = settings.PREFECT["PREFECT_UI_URL"].value
    if configured:
        return configured.rstrip("/")
    host = settings.PREFECT["PREFECT_SERVER_API_HOST"].value
    port = settings.PREFECT["PREFECT_SERVER_API_PORT"].value
    return f"http://{host}:{port}"


def run_url(flow_run_id) -> str:
    return server_url() + reverse("dashboard:flow-run", args=[flow_run_id])


def facts_for(flow_run, flow, state) -> dict[str, str]:
    """Every placeholder's value for this run entering this state."""
    return {
        "flow_run_name": flow_run.name,
        "flow_run_id": str(flow_run.id),
        "flow_name": flow.name,
        "state_name": state.name or state.type.capitalize(),
        "state_type": state.type,
        "state_message": state.message or "",
        "timestamp": format_timestamp(state.timestamp),
        "tags": ", ".join(flow_run.tags or []),
        "run_url": run_url(flow_run.id),
    }


def sample_facts(moment: datetime) -> dict[str, str]:
    return {**SAMPLE_FACTS, "timestamp": format_timestamp(moment), "run_url": server_url() + "/"}


def render(template: str, facts: dict[str, str]) -> tuple[str, str]:
    """(subject, body) for these facts; an empty template means the default message."""
    subject = SUBJECT.format(**facts)
    if template:
        body = template.format(**facts)
    else:
        sentence = DEFAULT_SENTENCE.format(**facts, state_name_lower=facts["state_name"].lower())
        body = f"{sentence}\n{facts['run_url']}"
    return subject, body


def build_message(delivery) -> Message:
    """The channel-facing message of a delivery; its id is the idempotency key every retry reuses."""
    facts = (delivery.facts or {}).get("placeholders", {})
    tags = tuple((delivery.facts or {}).get("tags", []))
    return Message(
        key=str(delivery.id),
        subject=delivery.subject,
        body=delivery.body,
        run_url=delivery.run_url,
        state_type=facts.get("state_type", ""),
        state_name=facts.get("state_name", ""),
        flow_run_id=facts.get("flow_run_id", ""),
        flow_run_name=facts.get("flow_run_name", ""),
        flow_name=facts.get("flow_name", ""),
        tags=tags,
        placeholders=dict(facts),
    )

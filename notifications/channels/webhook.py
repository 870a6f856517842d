"""Custom webhook: any HTTP endpoint, with the method, headers and JSON body the user chooses.

The body is a JSON template whose {placeholders} sit inside JSON strings; each is replaced by its
value JSON-escaped, so a run name with quotes or newlines still yields valid JSON. Every request
carries `Idempotency-Key: <message key>`, stable across retries, so a receiver can drop a resend.
"""

from __future__ import annotations

import json
import re

from .base import PLACEHOLDERS, Channel, Field, Message, OutgoingRequest
from .checks import clean_fields, finish

PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
# The message's own parts, next to the template placeholders every channel message carries.
MESSAGE_PLACEHOLDERS = ("subject", "body")
TEMPLATE_PLACEHOLDERS = tuple(PLACEHOLDERS)
KNOWN_PLACEHOLDERS = MESSAGE_PLACEHOLDERS + TEMPLATE_PLACEHOLDERS
DEFAULT_BODY = json.dumps({name: "{%s}" % name for name in KNOWN_PLACEHOLDERS}, indent=2)
HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")  # an HTTP token (RFC 9110)
RESERVED_HEADERS = {"content-length", "host", "idempotency-key"}


def render_body(template: str, values: dict[str, str]) -> str:
    """The template with each placeholder replaced by its JSON-escaped value (no quotes added)."""
    def escaped(match: re.Match) -> str:
        value = values.get(match.group(1))
        return json.dumps("" if value is None else str(value))[1:-1]

    return PLACEHOLDER.sub(escaped, template)


class WebhookChannel(Channel):
    key = "webhook"
    label = "Custom webhook"
    fields = (
        Field("url", "URL", kind="url", secret=True, help="Where to send; it may carry a token, so it is kept secret."),
        Field("method", "Method", kind="choice", required=False, default="POST", choices=("POST", "PUT", "PATCH")),
        Field("headers", "Headers", kind="json", required=False, secret=True,
              help='A JSON object of extra headers, e.g. {"Authorization": "Bearer ..."}.'),
        Field("body", "Body template", kind="textarea", required=False, default=DEFAULT_BODY,
              help="JSON; placeholders such as {flow_name} go inside strings: " + ", ".join(
                  "{%s}" % name for name in KNOWN_PLACEHOLDERS) + "."),
    )

    def clean(self, config: dict) -> dict:
        cleaned, errors = clean_fields(self.fields, config)
        if "headers" in cleaned and "headers" not in errors:
            message = check_headers(cleaned["headers"])
            if message:
                errors["headers"] = message
        if "body" in cleaned and "body" not in errors:
            message = check_body_template(cleaned["body"])
            if message:
                errors["body"] = message
        return finish(cleaned, errors)

    def requests_for(self, message: Message, config: dict) -> list[OutgoingRequest]:
        values = {
            "flow_run_name": message.flow_run_name, "flow_run_id": message.flow_run_id,
            "flow_name": message.flow_name, "state_name": message.state_name, "state_type": message.state_type,
            "tags": ", ".join(message.tags), "run_url": message.run_url,
            **message.placeholders,
            "subject": message.subject, "body": message.body,
        }
        headers = {"Content-Type": "application/json", **config.get("headers", {})}
        headers["Idempotency-Key"] = message.key
        return [
            OutgoingRequest(
                method=config.get("method", "POST"),
                url=config["url"],
                headers=headers,
                data=render_body(config.get("body", DEFAULT_BODY), values).encode("utf-8"),
            )
        ]


def check_headers(headers) -> str | None:
    if not isinstance(headers, dict):
        return 'Must be a JSON object of header names and values, e.g. {"X-Token": "abc"}.'
    for name, value in headers.items():
        if not HEADER_NAME.match(name):
            return f"{name!r} is not a valid header name."
        if name.lower() in RESERVED_HEADERS:
            return f"{name} is set by the server and cannot be configured."
        if not isinstance(value, str):
            return f"The value of {name} must be text."
        if "\r" in value or "\n" in value:
            return f"The value of {name} cannot contain a line break."
    return None


def check_body_template(template: str) -> str | None:
    unknown = sorted({name for name in PLACEHOLDER.findall(template) if name not in KNOWN_PLACEHOLDERS})
    if unknown:
        return (
            f"Unknown placeholder{'s' if len(unknown) > 1 else ''}: {', '.join('{%s}' % n for n in unknown)}. "
            f"Known: {', '.join('{%s}' % n for n in KNOWN_PLACEHOLDERS)}."
        )
    sample = render_body(template, {name: "x" for name in KNOWN_PLACEHOLDERS})
    try:
        json.loads(sample)
    except ValueError as exc:
        return f"Not valid JSON once placeholders are filled in ({exc}); put placeholders inside quotes."
    return None



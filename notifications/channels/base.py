"""What every channel is: a form (its fields) and a transport (one HTTP request per message).

A channel never touches the database. `clean` checks a config dict and returns it normalised, or
raises ConfigError with one message per field; `requests_for` says exactly what to send for a message
(one request, or one per recipient for Twilio; tested shape by shape); `send_one` performs one with
`requests`. Fields marked secret are encrypted at
rest and masked on the way out by the notifications domain, never here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import requests

SEND_TIMEOUT_SECONDS = 10


class ConfigError(Exception):
    """A channel config that cannot be used: {field name: message}."""

    def __init__(self, errors: dict[str, str]):
        super().__init__("; ".join(f"{name}: {message}" for name, message in errors.items()))
        self.errors = errors


@dataclass(frozen=True)
class Field:
    name: str
    label: str
    kind: str = "text"  # text | url | choice | list (comma/newline separated) | json | textarea
    required: bool = True
    secret: bool = False
    default: Any = None
    choices: tuple[str, ...] = ()
    help: str = ""


# What a message template (and the webhook's body template) may use, with the help the editor shows.
PLACEHOLDERS = {
    "flow_run_name": "the flow run's name",
    "flow_run_id": "the flow run's id",
    "flow_name": "the flow's name",
    "state_name": "the state's name (Failed, Late, ...)",
    "state_type": "the state's type (FAILED, SCHEDULED, ...)",
    "state_message": "the state's message",
    "timestamp": "when the state was entered (UTC)",
    "tags": "the run's tags, comma separated",
    "run_url": "the run's page on the dashboard",
}


@dataclass(frozen=True)
class Message:
    """One notification, already rendered; `key` is stable across retries (an idempotency key)."""

    key: str
    subject: str
    body: str
    run_url: str = ""
    # The facts a service-specific payload may want (severity from the state type, and so on).
    state_type: str = ""
    state_name: str = ""
    flow_run_id: str = ""
    flow_run_name: str = ""
    flow_name: str = ""
    tags: tuple[str, ...] = ()
    placeholders: dict[str, str] = field(default_factory=dict)  # every template placeholder's value


@dataclass
class OutgoingRequest:
    method: str
    url: str
    headers: dict[str, str] = field(default_factory=dict)
    json: Any = None
    data: dict[str, Any] | str | bytes | None = None  # form fields (Twilio) or a raw body (UTF-8 bytes: the webhook)
    auth: tuple[str, str] | None = None


class Channel:
    key: str = ""
    label: str = ""
    fields: tuple[Field, ...] = ()
    # The config.py setting holding the service's base URL (None: the user gives the full URL).
    base_url_setting: str | None = None

    def clean(self, config: dict) -> dict:
        raise NotImplementedError

    def requests_for(self, message: Message, config: dict) -> list[OutgoingRequest]:
        raise NotImplementedError

    @staticmethod
    def send_one(outgoing: OutgoingRequest, session: requests.Session | None = None) -> requests.Response:
        return (session or requests).request(
            outgoing.method,
            outgoing.url,
            headers=outgoing.headers,
            json=outgoing.json,
            data=outgoing.data,
            auth=outgoing.auth,
            timeout=SEND_TIMEOUT_SECONDS,
            allow_redirects=False,
        )

    def secret_fields(self) -> list[str]:
        return [f.name for f in self.fields if f.secret]

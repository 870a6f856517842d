"""Fixtures for the notifications core: a capture server, flow runs driven through orchestration,
policies on the webhook channel pointed at the capture server, and fast retry settings."""

from __future__ import annotations

import itertools

import pytest
from django.conf import settings as django_settings

from notifications import policies
from notifications.channels import CHANNELS, Channel, ConfigError, Field, OutgoingRequest
from orchestrator_site.config import Setting
from runs.domain.flow_runs import create_flow_run, set_flow_run_state
from runs.domain.flows import create_flow

from .capture import CaptureServer

_names = itertools.count()

# Secrets the tests put into configs; none may ever be shown or recorded.
URL_TOKEN = "T0KEN-in-the-url-9f8e7d"
HEADER_TOKEN = "Bearer header-secret-4c3b2a"


@pytest.fixture
def capture():
    server = CaptureServer().start()
    yield server
    server.stop()


@pytest.fixture
def prefect_settings(settings):
    """Set PREFECT_* settings for one test: prefect_settings(PREFECT_UI_URL="https://x")."""

    def set_values(**values):
        settings.PREFECT = {
            **django_settings.PREFECT,
            **{
                name: Setting(None, "default") if value is None else Setting(str(value), "env", name)
                for name, value in values.items()
            },
        }

    return set_values


@pytest.fixture
def fast_retries(prefect_settings):
    prefect_settings(PREFECT_NOTIFICATIONS_RETRY_BACKOFF_SECONDS="0.05", PREFECT_NOTIFICATIONS_MAX_ATTEMPTS="3")


@pytest.fixture
def flow(db):
    return create_flow(name=f"daily-etl-{next(_names)}")[0]


@pytest.fixture
def make_run(flow):
    """A flow run (Pending, written through orchestration) with these tags."""

    def make(tags=(), name=None):
        run, _ = create_flow_run(flow_id=flow.id, name=name or f"fuzzy-leopard-{next(_names)}", tags=list(tags))
        return run

    return make


def enter(run, state_type: str, name: str | None = None, message: str | None = None, force: bool = True):
    """Put the run in a state through orchestration (the hook under test runs there)."""
    state = {"type": state_type, "message": message}
    if name:
        state["name"] = name
    return set_flow_run_state(flow_run_id=run.id, state=state, force=force)


@pytest.fixture
def webhook_policy(capture, db):
    """A webhook policy posting to the capture server under /hooks/<secret token>, with a secret header."""

    def make(state_names=("Failed",), tags=(), **fields):
        return policies.create_policy(
            state_names=list(state_names) if isinstance(state_names, tuple) else state_names,
            tags=list(tags) if isinstance(tags, tuple) else tags,
            channel="webhook",
            channel_config={
                "url": f"{capture.url}/hooks/{URL_TOKEN}",
                "headers": {"Authorization": HEADER_TOKEN},
            },
            **fields,
        )

    return make


class FanOutChannel(Channel):
    """Test-only: one request per recipient path (the way Twilio sends one SMS per number)."""

    key = "fan_out"
    label = "Fan-out (test)"
    fields = (Field("base_url", "Base URL", kind="url", secret=True), Field("recipients", "Recipients", kind="list"))

    def clean(self, config):
        errors = {}
        if not str(config.get("base_url", "")).startswith("http"):
            errors["base_url"] = "Enter an http(s) URL."
        if not config.get("recipients"):
            errors["recipients"] = "Name at least one recipient."
        if errors:
            raise ConfigError(errors)
        return {"base_url": config["base_url"], "recipients": list(config["recipients"])}

    def requests_for(self, message, config):
        return [
            OutgoingRequest("POST", f"{config['base_url']}/{recipient}", json={"text": message.body, "key": message.key})
            for recipient in config["recipients"]
        ]


@pytest.fixture
def fan_out_channel(monkeypatch):
    channel = FanOutChannel()
    monkeypatch.setitem(CHANNELS, channel.key, channel)
    return channel

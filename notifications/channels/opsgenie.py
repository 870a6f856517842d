"""Opsgenie: Alert API, create alert (POST /v2/alerts, `Authorization: GenieKey <API key>`).

`message` is limited to 130 characters, `alias` (512) makes a resend of the same notification
update the open alert instead of opening a second one, tags are at most 20 of 50 characters.
"""

from __future__ import annotations

from .base import Channel, Field, Message, OutgoingRequest
from .checks import clean_fields, finish, setting_url, truncate

REGION_SETTINGS = {"us": "PREFECT_NOTIFICATIONS_OPSGENIE_URL", "eu": "PREFECT_NOTIFICATIONS_OPSGENIE_EU_URL"}
MESSAGE_LIMIT, DESCRIPTION_LIMIT, ALIAS_LIMIT = 130, 15000, 512
TAG_COUNT, TAG_LIMIT = 20, 50


class OpsgenieChannel(Channel):
    key = "opsgenie"
    label = "Opsgenie"
    fields = (
        Field("api_key", "API key", secret=True, help="The key of an API integration (Teams > Integrations > API)."),
        Field("region", "Region", kind="choice", required=False, default="us", choices=("us", "eu"),
              help="eu for accounts on app.eu.opsgenie.com."),
        Field("priority", "Priority", kind="choice", required=False, choices=("P1", "P2", "P3", "P4", "P5"),
              help="Empty: Opsgenie's default (P3)."),
    )
    base_url_setting = REGION_SETTINGS["us"]

    def clean(self, config: dict) -> dict:
        cleaned, errors = clean_fields(self.fields, config)
        if any(ch.isspace() for ch in cleaned.get("api_key", "")):
            errors["api_key"] = "An API key has no spaces; paste it again."
        return finish(cleaned, errors)

    def requests_for(self, message: Message, config: dict) -> list[OutgoingRequest]:
        base_url = setting_url(REGION_SETTINGS[config.get("region", "us")])
        alert = {
            "message": truncate(message.subject, MESSAGE_LIMIT),
            "alias": message.key[:ALIAS_LIMIT],
            "description": truncate(message.body, DESCRIPTION_LIMIT),
            "tags": [tag[:TAG_LIMIT] for tag in message.tags[:TAG_COUNT]],
            "details": {
                "flow_name": message.flow_name,
                "flow_run_name": message.flow_run_name,
                "flow_run_id": message.flow_run_id,
                "state_name": message.state_name,
                "run_url": message.run_url,
            },
            "entity": message.flow_name,
            "source": "Orchestrator",
        }
        if config.get("priority"):
            alert["priority"] = config["priority"]
        return [
            OutgoingRequest(
                "POST", f"{base_url}/v2/alerts", headers={"Authorization": f"GenieKey {config['api_key']}"}, json=alert
            )
        ]

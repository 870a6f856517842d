"""PagerDuty: Events API v2, a `trigger` alert event (POST /v2/enqueue; the routing key is in the body).

`dedup_key` is the message key, so a resend of the same notification lands on the same alert.
"""

from __future__ import annotations

import re

from .base import Channel, Field, Message, OutgoingRequest
from .checks import clean_fields, finish, setting_url, truncate

ROUTING_KEY = re.compile(r"^[A-Za-z0-9]{32}$")
SUMMARY_LIMIT, DEDUP_KEY_LIMIT = 1024, 255


class PagerDutyChannel(Channel):
    key = "pagerduty"
    label = "PagerDuty"
    fields = (
        Field("routing_key", "Routing key", secret=True,
              help="The 32-character Integration Key of an Events API v2 integration on a service."),
        Field("severity", "Severity", kind="choice", required=False, default="error",
              choices=("critical", "error", "warning", "info")),
    )
    base_url_setting = "PREFECT_NOTIFICATIONS_PAGERDUTY_URL"

    def clean(self, config: dict) -> dict:
        cleaned, errors = clean_fields(self.fields, config)
        if "routing_key" in cleaned and not ROUTING_KEY.match(cleaned["routing_key"]):
            errors["routing_key"] = (
                "A routing key is the 32-character Integration Key (letters and digits) "
                "of an Events API v2 integration."
            )
        return finish(cleaned, errors)

    def requests_for(self, message: Message, config: dict) -> list[OutgoingRequest]:
        event = {
            "routing_key": config["routing_key"],
            "event_action": "trigger",
            "dedup_key": message.key[:DEDUP_KEY_LIMIT],
            "payload": {
                "summary": truncate(message.subject, SUMMARY_LIMIT),
                "source": message.flow_name or "orchestrator",
                "severity": config.get("severity", "error"),
                "component": message.flow_run_name or None,
                "class": message.state_name or None,
                "custom_details": {
                    "message": message.body,
                    "flow_name": message.flow_name,
                    "flow_run_name": message.flow_run_name,
                    "flow_run_id": message.flow_run_id,
                    "state_name": message.state_name,
                    "state_type": message.state_type,
                    "tags": list(message.tags),
                },
            },
            "client": "Orchestrator",
        }
        event["payload"] = {k: v for k, v in event["payload"].items() if v is not None}
        if message.run_url:
            event["links"] = [{"href": message.run_url, "text": "View the flow run"}]
            event["client_url"] = message.run_url
        url = f"{setting_url(self.base_url_setting)}/v2/enqueue"
        return [OutgoingRequest("POST", url, json=event)]

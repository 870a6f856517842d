"""Mattermost: an incoming webhook post (JSON `text` in Markdown; optional `channel` and `username` overrides)."""

from __future__ import annotations

from .base import Channel, Field, Message, OutgoingRequest
from .checks import clean_fields, finish


class MattermostChannel(Channel):
    key = "mattermost"
    label = "Mattermost"
    fields = (
        Field("webhook_url", "Webhook URL", kind="url", secret=True,
              help="Integrations > Incoming Webhooks, e.g. https://chat.example.com/hooks/xxx."),
        Field("channel", "Channel", required=False, help="A channel name (e.g. town-square) to post in instead of the webhook's."),
        Field("username", "Post as", required=False, help="Honoured when the server allows webhooks to override it."),
    )

    def clean(self, config: dict) -> dict:
        return finish(*clean_fields(self.fields, config))

    def requests_for(self, message: Message, config: dict) -> list[OutgoingRequest]:
        payload = {"text": message.body}
        for name in ("channel", "username"):
            if config.get(name):
                payload[name] = config[name]
        return [OutgoingRequest("POST", config["webhook_url"], json=payload)]

"""Discord: a message through a channel webhook (Execute Webhook: JSON `content`, 2000 characters at most)."""

from __future__ import annotations

from .base import Channel, Field, Message, OutgoingRequest
from .checks import clean_fields, finish, truncate

CONTENT_LIMIT = 2000


class DiscordChannel(Channel):
    key = "discord"
    label = "Discord"
    fields = (
        Field("webhook_url", "Webhook URL", kind="url", secret=True,
              help="Channel settings > Integrations > Webhooks > Copy Webhook URL."),
        Field("username", "Post as", required=False, help="Overrides the webhook's default name."),
    )

    def clean(self, config: dict) -> dict:
        return finish(*clean_fields(self.fields, config))

    def requests_for(self, message: Message, config: dict) -> list[OutgoingRequest]:
        payload = {
            "content": truncate(message.body, CONTENT_LIMIT),
            # A run or flow name must not be able to ping @everyone.
            "allowed_mentions": {"parse": []},
        }
        if config.get("username"):
            payload["username"] = config["username"]
        return [OutgoingRequest("POST", config["webhook_url"], json=payload)]

"""Microsoft Teams: an Adaptive Card posted to an Incoming Webhook or a Workflows webhook URL.

Both take the same body: a `message` whose one attachment has contentType
application/vnd.microsoft.card.adaptive and the card as its `content`.
"""

from __future__ import annotations

from .base import Channel, Field, Message, OutgoingRequest
from .checks import clean_fields, finish

CARD_SCHEMA = "http://adaptivecards.io/schemas/adaptive-card.json"


class MicrosoftTeamsChannel(Channel):
    key = "microsoft_teams"
    label = "Microsoft Teams"
    fields = (
        Field("webhook_url", "Webhook URL", kind="url", secret=True,
              help="The URL of a Teams Workflows 'post to a channel when a webhook request is received' flow, "
                   "or of an Incoming Webhook."),
    )

    def clean(self, config: dict) -> dict:
        return finish(*clean_fields(self.fields, config))

    def requests_for(self, message: Message, config: dict) -> list[OutgoingRequest]:
        card = {
            "$schema": CARD_SCHEMA,
            "type": "AdaptiveCard",
            "version": "1.2",
            "body": [
                {"type": "TextBlock", "text": message.subject, "weight": "Bolder", "size": "Medium", "wrap": True},
                {"type": "TextBlock", "text": message.body, "wrap": True},
            ],
        }
        if message.run_url:
            card["actions"] = [{"type": "Action.OpenUrl", "title": "View the flow run", "url": message.run_url}]
        payload = {
            "type": "message",
            "attachments": [
                {"contentType": "application/vnd.microsoft.card.adaptive", "contentUrl": None, "content": card}
            ],
        }
        return [OutgoingRequest("POST", config["webhook_url"], json=payload)]

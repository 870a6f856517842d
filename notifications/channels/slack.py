"""Slack: an incoming webhook message (JSON `text` in mrkdwn, the run as a <url|label> link).

&, < and > are Slack's control characters, so the text is escaped first; the run URL is then
turned into a link where the message shows it, or added on its own line.
"""

from __future__ import annotations

from .base import Channel, Field, Message, OutgoingRequest
from .checks import clean_fields, finish


def escape_mrkdwn(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def slack_text(message: Message) -> str:
    text = escape_mrkdwn(message.body)
    if not message.run_url:
        return text
    label = escape_mrkdwn(message.flow_run_name or "the flow run").replace("|", "/")
    link = f"<{message.run_url}|{label}>"
    escaped_url = escape_mrkdwn(message.run_url)
    if escaped_url in text:
        return text.replace(escaped_url, link)
    return f"{text}\n{link}"


class SlackChannel(Channel):
    key = "slack"
    label = "Slack"
    fields = (
        Field("webhook_url", "Webhook URL", kind="url", secret=True,
              help="An Incoming Webhook of a Slack app, e.g. https://hooks.slack.com/services/T000/B000/XXXX."),
    )

    def clean(self, config: dict) -> dict:
        return finish(*clean_fields(self.fields, config))

    def requests_for(self, message: Message, config: dict) -> list[OutgoingRequest]:
        return [OutgoingRequest("POST", config["webhook_url"], json={"text": slack_text(message)})]

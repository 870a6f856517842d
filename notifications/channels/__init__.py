"""The channels a policy can send through, by key. One module per service."""

from .base import Channel, ConfigError, Field, Message, OutgoingRequest
from .discord import DiscordChannel
from .mattermost import MattermostChannel
from .microsoft_teams import MicrosoftTeamsChannel
from .opsgenie import OpsgenieChannel
from .pagerduty import PagerDutyChannel
from .sendgrid_email import SendGridEmailChannel
from .slack import SlackChannel
from .twilio_sms import TwilioSmsChannel
from .webhook import WebhookChannel

CHANNELS: dict[str, Channel] = {
    channel.key: channel
    for channel in (
        WebhookChannel(),
        DiscordChannel(),
        MattermostChannel(),
        MicrosoftTeamsChannel(),
        OpsgenieChannel(),
        PagerDutyChannel(),
        SendGridEmailChannel(),
        SlackChannel(),
        TwilioSmsChannel(),
    )
}

__all__ = ["CHANNELS", "Channel", "ConfigError", "Field", "Message", "OutgoingRequest"]

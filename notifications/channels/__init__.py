"""The channels a policy can send through, by key. One module per service."""

from .base import Channel, ConfigError, Field, Message, OutgoingRequest

CHANNELS: dict[str, Channel] = {}  # filled below, one entry per service module

__all__ = ["CHANNELS", "Channel", "ConfigError", "Field", "Message", "OutgoingRequest"]

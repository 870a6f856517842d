"""Formatting for the dashboard templates: durations, states, JSON. Everything returned is escaped
by the template engine (nothing here marks text safe)."""

import json
from datetime import datetime, timedelta

from django import template
from django.utils import timezone

from runs.domain.dashboard import level_name

register = template.Library()


@register.filter
def duration(value) -> str:
    """A timedelta (or seconds) as '2h 03m', '4m 05s', '1.25s'; empty when unknown."""
    if value is None or value == "":
        return ""
    seconds = value.total_seconds() if isinstance(value, timedelta) else float(value)
    if seconds < 0:
        seconds = 0
    if seconds < 10:
        return f"{seconds:.2f}s"
    if seconds < 60:
        return f"{seconds:.0f}s"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes}m {secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours}h {minutes:02d}m"
    days, hours = divmod(hours, 24)
    return f"{days}d {hours:02d}h"


@register.filter
def ago(value: datetime | None) -> str:
    """'3m ago' / 'in 5m' relative to now."""
    if not value:
        return ""
    delta = timezone.now() - value
    text = duration(abs(delta))
    if abs(delta) < timedelta(seconds=10):
        return "just now"
    return f"{text} ago" if delta >= timedelta(0) else f"in {text}"


@register.filter
def state_class(state_type) -> str:
    return f"state-{(state_type or 'none').lower()}"


@register.filter
def pretty_json(value) -> str:
    return json.dumps(value, indent=2, sort_keys=True, default=str)


@register.filter
def log_level(level) -> str:
    return level_name(int(level))


@register.filter
def get_item(mapping, key):
    return mapping.get(key) if mapping else None

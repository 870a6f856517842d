"""Datetimes as state details carry them: ISO 8601 strings in UTC with a "Z", parsed leniently."""

from datetime import UTC, datetime

from django.utils.dateparse import parse_datetime


def parse_instant(value) -> datetime | None:
    """A datetime from a stored or incoming value; accepts "Z", "+00:00" and a space separator.
    Naive values are taken as UTC, since the client always means UTC."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, str):
        parsed = parse_datetime(value.strip())
        if parsed is None:
            raise ValueError(f"{value!r} is not an ISO 8601 datetime")
    else:
        raise ValueError(f"{value!r} is not an ISO 8601 datetime")
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed


def format_instant(value: datetime | None) -> str | None:
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")

"""Config checks the channels share: each field by its kind, then the formats services insist on.

`clean_fields` turns what a form or a script sent into the channel's normalised config, collecting
one message per field (so the editor can show it next to the field) instead of stopping at the first.
"""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import validate_email

from .base import ConfigError, Field

REQUIRED = "This field is required."
E164 = re.compile(r"^\+[1-9]\d{6,14}$")


def clean_fields(fields: tuple[Field, ...], config: Any) -> tuple[dict, dict[str, str]]:
    """Check `config` against `fields`: (normalised config, {field: message}).

    Optional fields left empty take their default, or are left out when they have none.
    Keys the channel does not know are refused: a misspelt field would otherwise be lost silently.
    """
    if config is None:
        config = {}
    if not isinstance(config, dict):
        raise ConfigError({"channel_config": "Must be a JSON object of the channel's fields."})
    known = {f.name for f in fields}
    errors = {
        name: f"Unknown field; this channel takes: {', '.join(sorted(known))}."
        for name in config
        if name not in known
    }
    cleaned: dict[str, Any] = {}
    for f in fields:
        try:
            value = CLEANERS[f.kind](f, config.get(f.name))
        except ValueError as exc:
            errors[f.name] = str(exc)
            continue
        if is_empty(value):
            if f.required:
                errors[f.name] = REQUIRED
            elif f.default is not None:
                cleaned[f.name] = f.default
            continue
        cleaned[f.name] = value
    return cleaned, errors


def finish(cleaned: dict, errors: dict[str, str]) -> dict:
    if errors:
        raise ConfigError(errors)
    return cleaned


def is_empty(value: Any) -> bool:
    return value is None or value == "" or value == [] or value == {}


def _text(f: Field, value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise ValueError("Must be text.")
    return str(value).strip()


def _url(f: Field, value: Any) -> str | None:
    text = _text(f, value)
    if not text:
        return text
    check_url(text)
    return text


def check_url(text: str) -> None:
    try:
        parts = urlsplit(text)
        host = parts.hostname
    except ValueError:
        host, parts = None, None
    if parts is None or parts.scheme not in ("http", "https") or not host:
        raise ValueError("Enter a full http:// or https:// URL, with its host.")
    if any(ch.isspace() for ch in text):
        raise ValueError("A URL cannot contain spaces.")


def _choice(f: Field, value: Any) -> str | None:
    text = _text(f, value)
    if not text:
        return text
    for choice in f.choices:
        if choice.lower() == text.lower():
            return choice
    raise ValueError(f"Choose one of: {', '.join(f.choices)}.")


def _list(f: Field, value: Any) -> list[str] | None:
    """A JSON list of strings, or text with one item per line or comma."""
    if value is None:
        return None
    if isinstance(value, str):
        items = re.split(r"[,\n]", value)
    elif isinstance(value, (list, tuple)):
        if not all(isinstance(item, str) for item in value):
            raise ValueError("Must be a list of text items.")
        items = list(value)
    else:
        raise ValueError("Must be a list, or text with one item per line or comma.")
    return [item.strip() for item in items if item.strip()]


def _json(f: Field, value: Any) -> Any:
    """A JSON value, given as JSON text (a form) or already parsed (the API)."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError as exc:
            raise ValueError(f"Not valid JSON: {exc}.") from None
    return value


CLEANERS = {"text": _text, "textarea": _text, "url": _url, "choice": _choice, "list": _list, "json": _json}


def check_emails(addresses: list[str]) -> str | None:
    """The message for the first address that is not an email address, or None."""
    for address in addresses:
        try:
            validate_email(address)
        except ValidationError:
            return f"{address!r} is not an email address (expected name@example.com)."
    return None


def check_phone_numbers(numbers: list[str]) -> str | None:
    """Numbers must be E.164: '+', the country code, then the number, digits only."""
    for number in numbers:
        if not E164.match(number):
            return f"{number!r} is not an E.164 phone number (expected e.g. +14155550123: '+', country code, digits only)."
    return None


def setting_url(name: str) -> str:
    """A service's base URL from the settings, read at send time (tests point it elsewhere)."""
    return settings.PREFECT[name].value.rstrip("/")


def truncate(text: str, limit: int) -> str:
    """At most `limit` characters, ending in an ellipsis when cut."""
    return text if len(text) <= limit else text[: limit - 1] + "\u2026"

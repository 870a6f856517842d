"""Secret channel settings: encrypted at rest, masked on the way out, scrubbed from error texts.

A channel marks fields secret (API keys, tokens, webhook URLs that embed a token). In the stored
config each secret value is a Fernet token made with the server's block-document key (one key for
the whole server). Whatever shows a config (API, pages, admin) shows `masked_config`: "********" for
keys, scheme and host only for URLs ("https://hooks.slack.com/********"). A form or client that
sends a masked value back (or leaves the field out) keeps the stored secret.
"""

from __future__ import annotations

import base64
import re
from typing import Any
from urllib.parse import quote, urlsplit

import orjson
from cryptography.fernet import InvalidToken

from runs.domain.blocks import fernet
from runs.domain.errors import Conflict

MASK = "********"
URL_PATTERN = re.compile(r"\b([a-zA-Z][a-zA-Z0-9+.-]*://[^/\s'\"<>]+)(/[^\s'\"<>]*)")
# requests' connection errors name the path alone: "... Max retries exceeded with url: /T000/B000/xyz (Caused by ...".
URL_PATH_PATTERN = re.compile(r"(with url: )(\S+)")


def secret_fields(channel) -> list[str]:
    return channel.secret_fields()


def encrypt_value(value: Any) -> str:
    return fernet().encrypt(orjson.dumps(value)).decode()


def decrypt_value(token: str) -> Any:
    try:
        return orjson.loads(fernet().decrypt(token.encode()))
    except (InvalidToken, AttributeError, orjson.JSONDecodeError):
        raise Conflict("A secret of this policy cannot be decrypted with the server's encryption key; enter it again.") from None


def encrypt_config(channel, config: dict) -> dict:
    """The config as stored: secret values replaced by their Fernet tokens."""
    stored = dict(config)
    for name in secret_fields(channel):
        if stored.get(name) not in (None, ""):
            stored[name] = encrypt_value(stored[name])
    return stored


def decrypt_config(channel, stored: dict) -> dict:
    """The config a channel works with (secrets in the clear): only ever held in memory."""
    config = dict(stored or {})
    for name in secret_fields(channel):
        if isinstance(config.get(name), str) and config[name]:
            config[name] = decrypt_value(config[name])
    return config


def mask_value(value: Any) -> Any:
    if value in (None, ""):
        return value
    if isinstance(value, dict):
        return {key: mask_value(item) for key, item in value.items()}
    if isinstance(value, list):
        return [mask_value(item) for item in value]
    if isinstance(value, str) and "://" in value:
        parts = urlsplit(value)
        if parts.scheme and parts.hostname:
            return f"{parts.scheme}://{parts.hostname}/{MASK}"
    return MASK


def masked_config(channel, stored: dict) -> dict:
    """What may be shown of a stored config. Needs no decryption for keys; URLs show their host."""
    names = set(secret_fields(channel))
    if not names:
        return dict(stored or {})
    config = dict(stored or {})
    for name in names:
        if config.get(name) in (None, ""):
            continue
        try:
            config[name] = mask_value(decrypt_value(config[name]))
        except Conflict:
            config[name] = MASK
    return config


def is_masked(value: Any) -> bool:
    """A value that is (or contains only) what masking shows, so it carries no new secret."""
    if isinstance(value, str):
        return value == MASK or value.endswith("/" + MASK)
    if isinstance(value, dict):
        return bool(value) and all(is_masked(item) for item in value.values())
    if isinstance(value, list):
        return bool(value) and all(is_masked(item) for item in value)
    return False


def keep_unchanged_secrets(channel, new_config: dict, current_plain: dict | None) -> dict:
    """New config with each secret sent back masked (or left out) replaced by the stored one."""
    merged = dict(new_config)
    current_plain = current_plain or {}
    for name in secret_fields(channel):
        if name not in current_plain:
            continue
        value = merged.get(name)
        if name not in merged or is_masked(value):
            merged[name] = current_plain[name]
        elif isinstance(value, dict) and isinstance(current_plain[name], dict):
            # Header maps: a header shown masked keeps its stored value, a changed one replaces it.
            merged[name] = {
                key: current_plain[name].get(key, item) if is_masked(item) else item for key, item in value.items()
            }
    return merged


def secret_strings(channel, config: dict, outgoing_requests=()) -> list[str]:
    """Every string a secret could show up as in an error or a response: the values themselves,
    the paths and queries of secret URLs (requests' errors print the path alone), and the
    credentials of the outgoing requests (basic auth as sent, tokens in URLs)."""
    found: set[str] = set()

    def collect(value):
        if isinstance(value, dict):
            for item in value.values():
                collect(item)
        elif isinstance(value, list):
            for item in value:
                collect(item)
        elif isinstance(value, str) and len(value) >= 4:
            found.add(value)
            found.add(quote(value, safe=""))
            if "://" in value:
                parts = urlsplit(value)
                tail = parts.path + (f"?{parts.query}" if parts.query else "")
                if len(tail) > 1:
                    found.add(tail)
                for segment in parts.path.split("/"):
                    if len(segment) >= 8:
                        found.add(segment)

    for name in secret_fields(channel):
        collect(config.get(name))
    for outgoing in outgoing_requests:
        if outgoing.auth:
            user, password = outgoing.auth
            collect(password)
            found.add(base64.b64encode(f"{user}:{password}".encode()).decode())
    return sorted((text for text in found if text), key=len, reverse=True)


def scrub(text: str, secrets: list[str], *, cut_urls: bool = True) -> str:
    """The text with every secret replaced by the mask and (for errors of requests, which print the
    URLs they called) every URL cut to scheme and host."""
    if not text:
        return text
    for secret in secrets:
        text = text.replace(secret, MASK)
    if not cut_urls:
        return text
    text = URL_PATTERN.sub(lambda match: f"{match.group(1)}/{MASK}" if match.group(2) not in ("", "/") else match.group(0), text)
    return URL_PATH_PATTERN.sub(lambda match: f"{match.group(1)}{MASK}", text)

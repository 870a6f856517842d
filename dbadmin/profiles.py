"""Editing the active profile in `$PREFECT_HOME/profiles.toml`, the file the prefect CLI uses.

The file keeps prefect's layout (`active = "name"` and one `[profiles.name]` table per profile),
so `prefect config set` and `manage.py config set` edit the same settings. Names are validated
against our settings (aliases included), and values are checked before anything is written.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
import tomllib
from datetime import date, datetime, time
from pathlib import Path

from orchestrator_site import config

BOOLEAN_WORDS = {"1", "0", "true", "false", "yes", "no", "on", "off"}
LOGGING_LEVELS = {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}


class ProfileError(Exception):
    """A request the profile cannot take; the message says why."""


def parse_assignment(text: str) -> tuple[str, str, str]:
    """`KEY=VALUE` as (settings key, name as typed, value), refusing unknown or unsettable names."""
    name, sep, value = text.partition("=")
    if not sep:
        raise ProfileError(f"Expected KEY=VALUE, got {text!r}.")
    key, name = known_key(name)
    check_value(key, value)
    return key, name, value


def known_key(name: str) -> tuple[str, str]:
    name = name.strip().upper()
    key = config.canonical_key(name)
    if key is None:
        known = ", ".join(key for key, spec in config.SETTINGS.items() if spec.profile_allowed)
        raise ProfileError(f"Unknown setting {name!r}. Known settings: {known}.")
    if not config.SETTINGS[key].profile_allowed:
        raise ProfileError(f"{key} decides where profiles are read from, so it cannot be set in a profile; "
                           "set it in the environment instead.")
    return key, name


def check_value(key: str, value: str) -> None:
    if key in {"PREFECT_API_DATABASE_ECHO", "PREFECT_API_DATABASE_MIGRATE_ON_START"}:
        if value.strip().lower() not in BOOLEAN_WORDS:
            raise ProfileError(f"{key} must be true or false, got {value!r}.")
    elif key == "PREFECT_SERVER_API_PORT":
        if not value.strip().isdigit() or not 0 < int(value) < 65536:
            raise ProfileError(f"{key} must be a port number (1-65535), got {value!r}.")
    elif key == "PREFECT_SERVER_LOGGING_LEVEL":
        if value.strip().upper() not in LOGGING_LEVELS:
            raise ProfileError(f"{key} must be one of {', '.join(sorted(LOGGING_LEVELS))}, got {value!r}.")
    elif key == "PREFECT_API_DATABASE_CONNECTION_URL":
        scheme = value.partition("://")[0].split("+", 1)[0].lower()
        if "://" not in value or scheme not in {"sqlite", "postgresql", "postgres"}:
            raise ProfileError(
                f"{key} must be a sqlite+aiosqlite:///... or postgresql+asyncpg://... URL, got a value "
                f"starting {value[:20]!r}."
            )


def set_values(assignments: list[tuple[str, str, str]], environ=None) -> str:
    """Write each (key, name, value) into the active profile; returns the profile's name.

    A setting is stored under one name only: its other names are removed, so the file never
    holds two values for it (prefect writes the newer names, we keep whichever the operator typed).
    """
    def change(profile: dict) -> None:
        for key, name, value in assignments:
            for other in config.setting_names(key):
                profile.pop(other, None)
            profile[name] = value

    return edit_active_profile(change, environ)


def unset_values(names: list[str], environ=None) -> str:
    keys = [known_key(name)[0] for name in names]

    def change(profile: dict) -> None:
        for key in keys:
            present = [name for name in config.setting_names(key) if name in profile]
            if not present:
                raise ProfileError(f"{key} is not set in profile {profile_name!r}.")
            for name in present:
                del profile[name]

    profile_name = config.active_profile_name(read_document(environ), environ)
    return edit_active_profile(change, environ)


def read_document(environ=None) -> dict:
    path = config.profiles_path(environ)
    try:
        return tomllib.loads(path.read_text())
    except FileNotFoundError:
        return {}
    except tomllib.TOMLDecodeError as exc:
        raise ProfileError(f"{path} is not valid TOML, so it was left alone: {exc}") from None


def edit_active_profile(change, environ=None) -> str:
    path = config.profiles_path(environ)
    document = read_document(environ)
    name = config.active_profile_name(document, environ)
    # A PREFECT_PROFILE in the environment picks the profile to edit for this run only; the
    # file's own choice of active profile stays as it was.
    document.setdefault("active", config.DEFAULT_PROFILE)
    profiles = document.setdefault("profiles", {})
    profile = dict(profiles.get(name, {}))
    change(profile)
    profiles[name] = profile
    write_atomically(path, dump_toml(document))
    return name


def write_atomically(path: Path, text: str) -> None:
    # Never leave a half-written profiles file behind: the prefect CLI reads it too.
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=".profiles-", suffix=".toml")
    try:
        with os.fdopen(handle, "w") as stream:
            stream.write(text)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


# A small TOML writer (the standard library only reads TOML); enough for profile documents.
BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")


def dump_toml(document: dict) -> str:
    lines: list[str] = []
    write_table(lines, document, prefix=())
    return "\n".join(lines).strip() + "\n"


def write_table(lines: list[str], table: dict, prefix: tuple[str, ...]) -> None:
    scalars = {key: value for key, value in table.items() if not isinstance(value, dict)}
    tables = {key: value for key, value in table.items() if isinstance(value, dict)}
    if prefix and (scalars or not tables):
        lines.append("")
        lines.append(f"[{'.'.join(toml_key(part) for part in prefix)}]")
    for key, value in scalars.items():
        lines.append(f"{toml_key(key)} = {toml_value(value)}")
    for key, value in tables.items():
        write_table(lines, value, (*prefix, key))


def toml_key(key: str) -> str:
    return key if BARE_KEY.match(key) else json.dumps(key)


def toml_value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, (datetime, date, time)):
        return value.isoformat()
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(item) for item in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{toml_key(k)} = {toml_value(v)}" for k, v in value.items()) + "}"
    # JSON's string escapes are all valid TOML basic-string escapes.
    return json.dumps(str(value))

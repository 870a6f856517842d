"""Server settings read the way the prefect CLI reads them.

Each PREFECT_* setting comes from the environment, else from the active profile in
``$PREFECT_HOME/profiles.toml``, else from its documented default. The settings module and the
operator commands both read through ``load_settings`` so there is one answer to "what is in force".
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit


@dataclass(frozen=True)
class SettingSpec:
    default: str | None
    secret: bool = False


SETTINGS: dict[str, SettingSpec] = {
    "PREFECT_HOME": SettingSpec("~/.prefect"),
    "PREFECT_PROFILES_PATH": SettingSpec("${PREFECT_HOME}/profiles.toml"),
    "PREFECT_API_DATABASE_CONNECTION_URL": SettingSpec(None, secret=True),
    "PREFECT_API_DATABASE_ECHO": SettingSpec("false"),
    "PREFECT_API_DATABASE_MIGRATE_ON_START": SettingSpec("true"),
    "PREFECT_API_DATABASE_PASSWORD": SettingSpec(None, secret=True),
    "PREFECT_SERVER_API_HOST": SettingSpec("127.0.0.1"),
    "PREFECT_SERVER_API_PORT": SettingSpec("4200"),
    "PREFECT_SERVER_LOGGING_LEVEL": SettingSpec("WARNING"),
    "PREFECT_UI_URL": SettingSpec(None),
}


@dataclass(frozen=True)
class Setting:
    value: str | None
    source: str  # "env", "profile" or "default"


def prefect_home(environ=None) -> Path:
    environ = os.environ if environ is None else environ
    return Path(environ.get("PREFECT_HOME") or SETTINGS["PREFECT_HOME"].default).expanduser()


def profiles_path(environ=None) -> Path:
    environ = os.environ if environ is None else environ
    if environ.get("PREFECT_PROFILES_PATH"):
        return Path(environ["PREFECT_PROFILES_PATH"]).expanduser()
    return prefect_home(environ) / "profiles.toml"


def read_active_profile(environ=None) -> tuple[str | None, dict[str, str]]:
    """The active profile's name and its settings; PREFECT_PROFILE overrides the file's `active`."""
    environ = os.environ if environ is None else environ
    path = profiles_path(environ)
    try:
        document = tomllib.loads(path.read_text())
    except FileNotFoundError:
        return None, {}
    except tomllib.TOMLDecodeError as exc:
        raise ImproperlyConfiguredProfile(f"{path} is not valid TOML: {exc}") from exc
    name = environ.get("PREFECT_PROFILE") or document.get("active")
    profile = document.get("profiles", {}).get(name, {}) if name else {}
    return name, {key: str(value) for key, value in profile.items()}


class ImproperlyConfiguredProfile(Exception):
    pass


def load_settings(environ=None) -> dict[str, Setting]:
    environ = os.environ if environ is None else environ
    _, profile = read_active_profile(environ)
    resolved: dict[str, Setting] = {}
    for key, spec in SETTINGS.items():
        if key in environ:
            resolved[key] = Setting(environ[key], "env")
        elif key in profile:
            resolved[key] = Setting(profile[key], "profile")
        else:
            resolved[key] = Setting(spec.default, "default")
    return resolved


def as_bool(value: str | None) -> bool:
    return str(value).strip().lower() in {"1", "true", "yes", "on"}


def database_config(settings: dict[str, Setting]) -> dict:
    """Turn PREFECT_API_DATABASE_CONNECTION_URL into a Django DATABASES entry.

    Accepts the SQLAlchemy-style URLs the prefect CLI documents (``sqlite+aiosqlite:///path``,
    ``postgresql+asyncpg://user:pw@host:5432/db``); the ``+driver`` part is ignored.
    """
    home = prefect_home({"PREFECT_HOME": settings["PREFECT_HOME"].value})
    url = settings["PREFECT_API_DATABASE_CONNECTION_URL"].value
    if not url:
        return sqlite_config(str(home / "prefect.db"))
    password = settings["PREFECT_API_DATABASE_PASSWORD"].value
    if password is not None:
        url = url.replace("${PREFECT_API_DATABASE_PASSWORD}", password)
    scheme, _, rest = url.partition("://")
    dialect = scheme.split("+", 1)[0].lower()
    if dialect == "sqlite":
        return sqlite_from_url(rest)
    if dialect in {"postgresql", "postgres"}:
        return postgres_from_url(url)
    raise ValueError(f"Unsupported database URL scheme {scheme!r}: use sqlite+aiosqlite:/// or postgresql+asyncpg://")


def sqlite_from_url(rest: str) -> dict:
    # "sqlite:///relative.db", "sqlite:////abs/path.db", "sqlite:///file::memory:?cache=shared&uri=true"
    path, _, query = rest[1:].partition("?")
    options = parse_qs(query)
    if path in {"", ":memory:"} or ":memory:" in path:
        return sqlite_config("file:prefect-memory?mode=memory&cache=shared", uri=True, in_memory=True)
    if options.get("uri") == ["true"] and path.startswith("file:"):
        path = path[len("file:"):]
    return sqlite_config(str(Path(unquote(path)).expanduser()))


def sqlite_config(name: str, uri: bool = False, in_memory: bool = False) -> dict:
    # IMMEDIATE transactions take the write lock up front, so concurrent writers queue on the
    # busy timeout instead of failing with "database is locked" when they upgrade a read lock.
    init = "PRAGMA synchronous=NORMAL; PRAGMA busy_timeout=30000; PRAGMA foreign_keys=ON;"
    if not in_memory:
        init = "PRAGMA journal_mode=WAL; " + init
    options = {"timeout": 30, "transaction_mode": "IMMEDIATE", "init_command": init}
    if uri:
        options["uri"] = True
    return {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": name,
        "OPTIONS": options,
        "TEST": {"NAME": name} if in_memory else {},
    }


def postgres_from_url(url: str) -> dict:
    parts = urlsplit(url)
    options = {key: values[-1] for key, values in parse_qs(parts.query).items()}
    return {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": (parts.path or "/").lstrip("/") or "postgres",
        "USER": unquote(parts.username or ""),
        "PASSWORD": unquote(parts.password or ""),
        "HOST": parts.hostname or "",
        "PORT": str(parts.port or ""),
        # A small pool per server process: under ASGI, persistent per-thread connections pile up
        # until PostgreSQL refuses new clients.
        "CONN_MAX_AGE": 0,
        "OPTIONS": {"pool": {"min_size": 1, "max_size": 4, "timeout": 30}, **options},
    }

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
from urllib.parse import parse_qs, quote, unquote, urlsplit


@dataclass(frozen=True)
class SettingSpec:
    default: str | None
    secret: bool = False
    # Other names the prefect CLI reads for the same setting. `prefect config set
    # PREFECT_API_DATABASE_ECHO=true` writes PREFECT_SERVER_DATABASE_ECHO, so both must count.
    aliases: tuple[str, ...] = ()
    # PREFECT_HOME and the profiles path decide where profiles live, so a profile cannot set them.
    profile_allowed: bool = True


SETTINGS: dict[str, SettingSpec] = {
    "PREFECT_HOME": SettingSpec("~/.prefect", profile_allowed=False),
    "PREFECT_PROFILES_PATH": SettingSpec("${PREFECT_HOME}/profiles.toml", profile_allowed=False),
    "PREFECT_API_DATABASE_CONNECTION_URL": SettingSpec(
        None, secret=True, aliases=("PREFECT_SERVER_DATABASE_CONNECTION_URL",)
    ),
    "PREFECT_API_DATABASE_ECHO": SettingSpec("false", aliases=("PREFECT_SERVER_DATABASE_ECHO",)),
    "PREFECT_API_DATABASE_MIGRATE_ON_START": SettingSpec(
        "true", aliases=("PREFECT_SERVER_DATABASE_MIGRATE_ON_START",)
    ),
    "PREFECT_API_DATABASE_PASSWORD": SettingSpec(
        None, secret=True, aliases=("PREFECT_SERVER_DATABASE_PASSWORD",)
    ),
    "PREFECT_SERVER_API_HOST": SettingSpec("127.0.0.1"),
    "PREFECT_SERVER_API_PORT": SettingSpec("4200"),
    # "user:pass": when set, the API and its websockets require it (HTTP Basic / the auth frame).
    "PREFECT_SERVER_API_AUTH_STRING": SettingSpec(None, secret=True),
    "PREFECT_SERVER_LOGGING_LEVEL": SettingSpec("WARNING", aliases=("PREFECT_LOGGING_SERVER_LEVEL",)),
    "PREFECT_UI_URL": SettingSpec(None),
    # Notification services' base URLs (tests point them at a local capture server) and delivery tuning.
    "PREFECT_NOTIFICATIONS_OPSGENIE_URL": SettingSpec("https://api.opsgenie.com"),
    "PREFECT_NOTIFICATIONS_OPSGENIE_EU_URL": SettingSpec("https://api.eu.opsgenie.com"),
    "PREFECT_NOTIFICATIONS_PAGERDUTY_URL": SettingSpec("https://events.pagerduty.com"),
    "PREFECT_NOTIFICATIONS_SENDGRID_URL": SettingSpec("https://api.sendgrid.com"),
    "PREFECT_NOTIFICATIONS_TWILIO_URL": SettingSpec("https://api.twilio.com"),
    "PREFECT_NOTIFICATIONS_MAX_ATTEMPTS": SettingSpec("5"),
    "PREFECT_NOTIFICATIONS_RETRY_BACKOFF_SECONDS": SettingSpec("10"),
    "PREFECT_NOTIFICATIONS_LEASE_SECONDS": SettingSpec("60"),
}

# The profile that is active when neither PREFECT_PROFILE nor the file names one (as in prefect).
DEFAULT_PROFILE = "ephemeral"
PASSWORD_PLACEHOLDER = "${PREFECT_API_DATABASE_PASSWORD}"


def setting_names(key: str) -> tuple[str, ...]:
    """Every name `key` is read under, in the order prefect prefers them (its newer names first)."""
    spec = SETTINGS[key]
    if key.startswith("PREFECT_API_DATABASE_"):
        return (*spec.aliases, key)
    return (key, *spec.aliases)


def canonical_key(name: str) -> str | None:
    """The SETTINGS key a (possibly alias) name stands for, or None for an unknown name."""
    name = name.strip().upper()
    for key in SETTINGS:
        if name in setting_names(key):
            return key
    return None


@dataclass(frozen=True)
class Setting:
    value: str | None
    source: str  # "env", "profile" or "default"
    name: str | None = None  # the name it was found under (an alias, perhaps); None for defaults


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
        return active_profile_name({}, environ), {}
    except tomllib.TOMLDecodeError as exc:
        raise ImproperlyConfiguredProfile(f"{path} is not valid TOML: {exc}") from exc
    name = active_profile_name(document, environ)
    profile = document.get("profiles", {}).get(name, {})
    return name, {key: str(value) for key, value in profile.items()}


def active_profile_name(document: dict, environ=None) -> str:
    environ = os.environ if environ is None else environ
    return environ.get("PREFECT_PROFILE") or document.get("active") or DEFAULT_PROFILE


class ImproperlyConfiguredProfile(Exception):
    pass


def load_settings(environ=None) -> dict[str, Setting]:
    environ = os.environ if environ is None else environ
    _, profile = read_active_profile(environ)
    resolved: dict[str, Setting] = {}
    for key, spec in SETTINGS.items():
        names = setting_names(key)
        in_env = [name for name in names if name in environ]
        in_profile = [name for name in names if name in profile] if spec.profile_allowed else []
        if in_env:
            resolved[key] = Setting(environ[in_env[0]], "env", in_env[0])
        elif in_profile:
            resolved[key] = Setting(profile[in_profile[0]], "profile", in_profile[0])
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
    if password is not None and PASSWORD_PLACEHOLDER in url:
        # Quoted, so a password with '@', ':' or '/' cannot change where the URL points;
        # the URL parser unquotes it again.
        url = url.replace(PASSWORD_PLACEHOLDER, quote(password, safe=""))
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
        "ENGINE": "orchestrator_site.sqlite",
        "NAME": name,
        # Kept open by the long-lived request threads (orchestrator_site/asgi.py): opening a SQLite
        # connection (and its PRAGMAs) per request costs more than most requests.
        "CONN_MAX_AGE": None,
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

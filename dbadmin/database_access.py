"""Reaching the configured database from an operator command, or saying in one line why not."""

from __future__ import annotations

from pathlib import Path

from django.db import DatabaseError, connection

# An unreachable host would otherwise leave libpq waiting for the operating system's TCP timeout.
CONNECT_TIMEOUT_SECONDS = 10


class DatabaseUnavailable(Exception):
    """The database cannot be used; the message is one line an operator can act on."""


def describe_url(database: dict) -> str:
    """Where the database is, as a URL with any password hidden."""
    if is_sqlite(database):
        return f"sqlite:///{database['NAME']}"
    user = database.get("USER") or ""
    password = ":********" if database.get("PASSWORD") else ""
    credentials = f"{user}{password}@" if user or password else ""
    host = database.get("HOST") or "localhost"
    port = database.get("PORT") or "5432"
    return f"postgresql://{credentials}{host}:{port}/{database['NAME']}"


def is_sqlite(database: dict) -> bool:
    return "sqlite" in database["ENGINE"]  # Django's backend or ours (orchestrator_site.sqlite)


def is_in_memory(database: dict) -> bool:
    name = str(database.get("NAME", ""))
    return is_sqlite(database) and (name == ":memory:" or "mode=memory" in name)


def sqlite_file_missing(database: dict) -> bool:
    return is_sqlite(database) and not is_in_memory(database) and not Path(database["NAME"]).exists()


def use_direct_connection() -> None:
    """Commands make a handful of queries on one connection: a pool only adds its 30 s wait
    before reporting a server that is not there, so connect directly and give up sooner."""
    options = connection.settings_dict.setdefault("OPTIONS", {})
    if connection.vendor == "postgresql":
        options.pop("pool", None)
        options.setdefault("connect_timeout", CONNECT_TIMEOUT_SECONDS)


def ensure_reachable() -> None:
    """Open the connection now, so a missing or unreachable database is reported before any work."""
    use_direct_connection()
    try:
        connection.ensure_connection()
    except DatabaseError as exc:
        raise DatabaseUnavailable(
            f"Cannot connect to the database at {describe_url(connection.settings_dict)}: {short_reason(exc)}"
        ) from None


def short_reason(exc: BaseException) -> str:
    """The driver's explanation condensed to one line (psycopg's are several lines long)."""
    text = str(exc).strip() or type(exc).__name__
    lowered = text.lower()
    if "connection refused" in lowered:
        return "connection refused (is the server running and accepting TCP/IP connections?)"
    if "timeout expired" in lowered or "timed out" in lowered:
        return "the connection timed out"
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    reason = lines[-1] if lines else text
    for prefix in ("connection failed:", "FATAL:"):
        reason = reason.removeprefix(prefix).strip()
    # psycopg prefixes the server's message with the address it tried, which describe_url already gave.
    if reason.startswith("connection to server at") and "failed:" in reason:
        reason = reason.split("failed:", 1)[1].strip()
    return reason.removeprefix("FATAL:").strip()

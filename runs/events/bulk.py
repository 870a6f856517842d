"""Batch writes for the event hot path.

A burst of events means thousands of rows; the ORM's bulk_create spends most of its time compiling
each value into SQL (and splits SQLite inserts into 999-parameter statements). These helpers send
one statement with `executemany`, after adapting each value with its field's own database
preparation, so what lands in the table is exactly what the ORM would have written.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from django.db import DEFAULT_DB_ALIAS, connection, connections


def _adapter(field, conn):
    """The field's own database preparation, with the two hot cases done directly (same output)."""
    kind = (field.target_field if field.is_relation else field).get_internal_type()
    if kind == "UUIDField":
        return (lambda value: value) if conn.features.has_native_uuid_field else (lambda value: value and value.hex)
    if kind == "DateTimeField":
        if conn.vendor != "sqlite":
            return lambda value: value
        zone = conn.timezone  # SQLite stores naive text in the connection's zone, as the ORM does
        return lambda value: None if value is None else str(value.astimezone(zone).replace(tzinfo=None))
    return lambda value: field.get_db_prep_save(value, conn)


def _columns(model, names: list[str]):
    conn = connections[DEFAULT_DB_ALIAS]
    fields = [model._meta.get_field(name) for name in names]
    adapters = [_adapter(field, conn) for field in fields]
    quoted = [conn.ops.quote_name(field.column) for field in fields]
    return adapters, quoted


def _adapted(names: list[str], adapters, row: Mapping) -> tuple:
    # Names may be attnames ("task_run_id"): the row is keyed the way the caller named the columns.
    return tuple(adapt(row[name]) for name, adapt in zip(names, adapters))


def insert_rows(model, names: list[str], rows: Iterable[Mapping]) -> None:
    """INSERT the rows, skipping any that conflict with a stored row (any unique constraint)."""
    adapters, quoted = _columns(model, names)
    params = [_adapted(names, adapters, row) for row in rows]
    if not params:
        return
    table = connection.ops.quote_name(model._meta.db_table)
    placeholders = ", ".join(["%s"] * len(adapters))
    sql = f"INSERT INTO {table} ({', '.join(quoted)}) VALUES ({placeholders}) ON CONFLICT DO NOTHING"
    with connection.cursor() as cursor:
        cursor.executemany(sql, params)


def update_rows(model, names: list[str], rows: Iterable[Mapping]) -> None:
    """UPDATE each row (by primary key) with its own values for the named columns."""
    adapters, quoted = _columns(model, names)
    pk = model._meta.pk
    adapt_pk = _adapter(pk, connections[DEFAULT_DB_ALIAS])
    params = [(*_adapted(names, adapters, row), adapt_pk(row[pk.attname])) for row in rows]
    if not params:
        return
    table = connection.ops.quote_name(model._meta.db_table)
    assignments = ", ".join(f"{column} = %s" for column in quoted)
    sql = f"UPDATE {table} SET {assignments} WHERE {connection.ops.quote_name(pk.column)} = %s"
    with connection.cursor() as cursor:
        cursor.executemany(sql, params)

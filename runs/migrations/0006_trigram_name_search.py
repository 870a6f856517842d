"""PostgreSQL only: enable pg_trgm and add the trigram indexes behind name search.

The API's `like_` filters and the dashboard search use Django's `icontains`, which PostgreSQL
receives as `UPPER(column::text) LIKE UPPER('%term%')`; a GIN trigram index on that same
expression lets such substring searches use the index instead of reading the whole table.
SQLite has no such index type, so there the migration does nothing.
"""

from django.db import DatabaseError, migrations

# (index name, table, column)
TRIGRAM_INDEXES = [
    ("runs_flow_name_trgm", "runs_flow", "name"),
    ("runs_flowrun_name_trgm", "runs_flowrun", "name"),
    ("runs_taskrun_name_trgm", "runs_taskrun", "name"),
    ("runs_log_message_trgm", "runs_log", "message"),
]


def enable_trigram_search(apps, schema_editor):
    connection = schema_editor.connection
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm'")
        if cursor.fetchone() is None:
            create_extension(cursor, connection.settings_dict["NAME"])
        for index, table, column in TRIGRAM_INDEXES:
            cursor.execute(
                f'CREATE INDEX IF NOT EXISTS "{index}" ON "{table}" '
                f'USING gin ((UPPER("{column}"::text)) gin_trgm_ops)'
            )


def create_extension(cursor, database_name):
    try:
        cursor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    except DatabaseError as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DatabaseError(
            f"Cannot enable the PostgreSQL extension pg_trgm ({reason}). It ships with PostgreSQL's "
            f"contrib package; have a superuser run `CREATE EXTENSION pg_trgm;` in database "
            f"{database_name!r}, then run `python manage.py database upgrade` again."
        ) from exc


def drop_trigram_indexes(apps, schema_editor):
    # The extension itself stays: other objects in the database may rely on it, and dropping it
    # needs the privileges that creating it did.
    if schema_editor.connection.vendor != "postgresql":
        return
    with schema_editor.connection.cursor() as cursor:
        for index, _, _ in TRIGRAM_INDEXES:
            cursor.execute(f'DROP INDEX IF EXISTS "{index}"')


class Migration(migrations.Migration):
    dependencies = [
        ("runs", "0005_deployments_work_pools"),
    ]

    operations = [
        migrations.RunPython(enable_trigram_search, drop_trigram_indexes, elidable=False),
    ]

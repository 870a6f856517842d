"""`manage.py database ...` run as an operator would, in subprocesses, on databases made for the test.

The backend follows the test session (SQLite files, or uniquely named PostgreSQL databases when the
session runs on PostgreSQL). Migrating from scratch is the slow part, so one migrated template per
module is copied for each test that needs a migrated database.
"""

import os
import pty
import shutil
import subprocess
import uuid
from urllib.parse import urlsplit, urlunsplit

import pytest

from tests.e2e.harness import (
    PYTHON, ROOT, Database, clean_environ, e2e_backend, free_port, postgres_admin_url, postgres_connect,
)

BACKEND = e2e_backend()
on_postgres = pytest.mark.skipif(BACKEND != "postgres", reason="PostgreSQL only; the session runs on SQLite")


def manage(*args, url, home, env=None, stdin=subprocess.DEVNULL, timeout=180):
    environ = clean_environ(PREFECT_HOME=str(home), PREFECT_API_DATABASE_CONNECTION_URL=url, **(env or {}))
    return subprocess.run(
        [PYTHON, "manage.py", *args], cwd=ROOT, env=environ, stdin=stdin,
        capture_output=True, text=True, timeout=timeout,
    )


def run_orm(code, *, url, home):
    """Run ORM code in a fresh process against the database; returns what it prints."""
    finished = manage("shell", "-v", "0", "-c", code, url=url, home=home)
    assert finished.returncode == 0, finished.stderr
    return finished.stdout.strip()


def flow_names(db):
    return run_orm("from runs.models import Flow; print(sorted(Flow.objects.values_list('name', flat=True)))",
                   url=db.url, home=db.home)


def add_flow(db, name):
    run_orm(f"from runs.models import Flow; Flow.objects.create(name={name!r})", url=db.url, home=db.home)


def revisions(db):
    """[(label, applied)] in the order `database revisions` prints them."""
    finished = manage("database", "revisions", url=db.url, home=db.home)
    assert finished.returncode == 0, finished.stderr
    rows = []
    for line in finished.stdout.splitlines():
        line = line.strip()
        if line.startswith("[X] ") or line.startswith("[ ] "):
            rows.append((line[4:], line.startswith("[X]")))
    return rows


def applied(db):
    return [label for label, is_applied in revisions(db) if is_applied]


def ok(finished):
    assert finished.returncode == 0, f"stdout:\n{finished.stdout}\nstderr:\n{finished.stderr}"
    assert "Traceback" not in finished.stderr
    return finished


def refused(finished):
    assert finished.returncode != 0, finished.stdout
    assert "Traceback" not in finished.stderr, finished.stderr
    return finished.stderr


@pytest.fixture(scope="module")
def migrated_template(tmp_path_factory):
    home = tmp_path_factory.mktemp("template-home")
    template = Database.create(BACKEND, home)
    ok(manage("database", "upgrade", "-y", url=template.url, home=home))
    yield template
    template.drop()


@pytest.fixture
def empty_db(tmp_path):
    database = Database.create(BACKEND, tmp_path)
    yield database
    database.drop()


@pytest.fixture
def migrated_db(tmp_path, migrated_template):
    if BACKEND == "sqlite":
        source = urlsplit(migrated_template.url).path[1:]
        target = tmp_path / "server.db"
        for suffix in ("", "-wal"):
            if os.path.exists(source + suffix):
                shutil.copyfile(source + suffix, str(target) + suffix)
        yield Database("sqlite", tmp_path, f"sqlite+aiosqlite:///{target}")
        return
    name = f"dbadmin_{uuid.uuid4().hex[:12]}"
    template_name = urlsplit(migrated_template.url).path.lstrip("/")
    with postgres_connect(postgres_admin_url()) as conn:
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template_name}"')
    url = urlunsplit(urlsplit(migrated_template.url)._replace(path=f"/{name}"))
    database = Database("postgres", tmp_path, url, postgres_admin_url())
    yield database
    database.drop()


@pytest.fixture(scope="module")
def all_migrations(migrated_template):
    return [label for label, _ in revisions(migrated_template)]


class TestRevisions:
    def test_a_fresh_database_lists_every_migration_as_pending_in_the_order_migrate_applies_them(self, empty_db):
        rows = revisions(empty_db)
        labels = [label for label, _ in rows]
        assert not any(is_applied for _, is_applied in rows)
        assert labels[0] == "contenttypes.0001_initial"
        assert labels.index("runs.0001_initial") < labels.index("runs.0006_trigram_name_search")
        assert labels.index("auth.0001_initial") < labels.index("admin.0001_initial")
        assert len(labels) == len(set(labels))

    def test_a_migrated_database_lists_every_migration_as_applied(self, migrated_db, all_migrations):
        assert applied(migrated_db) == all_migrations


class TestUpgrade:
    def test_upgrade_applies_every_migration_and_a_second_upgrade_has_nothing_to_do(self, empty_db, all_migrations):
        ok(manage("database", "upgrade", "-y", url=empty_db.url, home=empty_db.home))
        assert applied(empty_db) == all_migrations
        again = ok(manage("database", "upgrade", "-y", url=empty_db.url, home=empty_db.home))
        assert "Nothing to upgrade" in again.stdout

    def test_a_negative_revision_applies_that_many_next_migrations(self, empty_db, all_migrations):
        ok(manage("database", "upgrade", "-y", "-r", "-1", url=empty_db.url, home=empty_db.home))
        assert applied(empty_db) == all_migrations[:1]
        ok(manage("database", "upgrade", "-y", "-r", "-2", url=empty_db.url, home=empty_db.home))
        assert applied(empty_db) == all_migrations[:3]

    def test_a_named_revision_applies_everything_up_to_and_including_it(self, empty_db, all_migrations):
        ok(manage("database", "upgrade", "-y", "-r", "runs.0002", url=empty_db.url, home=empty_db.home))
        target = all_migrations.index("runs.0002_event_resource_labels")
        assert applied(empty_db) == all_migrations[: target + 1]

    def test_a_dry_run_prints_the_plan_and_changes_nothing(self, empty_db, all_migrations):
        finished = ok(manage("database", "upgrade", "--dry-run", url=empty_db.url, home=empty_db.home))
        planned = [line.strip() for line in finished.stdout.splitlines() if line.startswith("  ")]
        assert planned == all_migrations
        assert applied(empty_db) == []

    def test_an_ambiguous_revision_prefix_is_refused_with_the_candidates(self, empty_db):
        message = refused(manage("database", "upgrade", "-y", "-r", "0001", url=empty_db.url, home=empty_db.home))
        assert "runs.0001_initial" in message and "auth.0001_initial" in message
        assert applied(empty_db) == []

    def test_an_unknown_revision_is_refused(self, empty_db):
        message = refused(manage("database", "upgrade", "-y", "-r", "nope", url=empty_db.url, home=empty_db.home))
        assert "No migration matches 'nope'" in message

    def test_without_yes_and_without_a_terminal_it_refuses(self, empty_db):
        message = refused(manage("database", "upgrade", url=empty_db.url, home=empty_db.home))
        assert "-y" in message
        assert applied(empty_db) == []


class TestDowngrade:
    def test_downgrade_undoes_the_last_applied_migration(self, migrated_db, all_migrations):
        finished = ok(manage("database", "downgrade", "-y", url=migrated_db.url, home=migrated_db.home))
        assert f"Undoing {all_migrations[-1]}" in finished.stdout
        assert applied(migrated_db) == all_migrations[:-1]

    def test_a_negative_revision_undoes_that_many(self, migrated_db, all_migrations):
        ok(manage("database", "downgrade", "-y", "-r", "-3", url=migrated_db.url, home=migrated_db.home))
        assert applied(migrated_db) == all_migrations[:-3]

    def test_a_named_revision_keeps_it_and_undoes_everything_after_it(self, migrated_db, all_migrations):
        ok(manage("database", "downgrade", "-y", "-r", "runs.0001", url=migrated_db.url, home=migrated_db.home))
        target = all_migrations.index("runs.0001_initial")
        assert applied(migrated_db) == all_migrations[: target + 1]

    def test_downgrading_and_upgrading_again_keeps_data_the_migrations_do_not_touch(self, migrated_db):
        add_flow(migrated_db, "kept-through-migrations")
        ok(manage("database", "downgrade", "-y", "-r", "runs.0001_initial", url=migrated_db.url, home=migrated_db.home))
        ok(manage("database", "upgrade", "-y", url=migrated_db.url, home=migrated_db.home))
        assert flow_names(migrated_db) == "['kept-through-migrations']"

    def test_base_removes_everything_and_upgrade_brings_back_a_working_schema(self, migrated_db, all_migrations):
        add_flow(migrated_db, "gone")
        ok(manage("database", "downgrade", "-y", "-r", "base", url=migrated_db.url, home=migrated_db.home))
        assert applied(migrated_db) == []
        ok(manage("database", "upgrade", "-y", url=migrated_db.url, home=migrated_db.home))
        assert applied(migrated_db) == all_migrations
        add_flow(migrated_db, "after-round-trip")
        assert flow_names(migrated_db) == "['after-round-trip']"

    def test_a_dry_run_lists_what_would_be_undone_last_first_and_changes_nothing(self, migrated_db, all_migrations):
        finished = ok(manage("database", "downgrade", "--dry-run", "-r", "-2",
                             url=migrated_db.url, home=migrated_db.home))
        planned = [line.strip() for line in finished.stdout.splitlines() if line.startswith("  ")]
        assert planned == [all_migrations[-1], all_migrations[-2]]
        assert applied(migrated_db) == all_migrations

    def test_a_revision_that_is_not_applied_is_refused(self, empty_db):
        ok(manage("database", "upgrade", "-y", "-r", "-1", url=empty_db.url, home=empty_db.home))
        message = refused(manage("database", "downgrade", "-y", "-r", "runs.0001_initial",
                                 url=empty_db.url, home=empty_db.home))
        assert "is not applied" in message

    def test_without_yes_and_without_a_terminal_it_refuses(self, migrated_db, all_migrations):
        message = refused(manage("database", "downgrade", url=migrated_db.url, home=migrated_db.home))
        assert "no terminal" in message and "-y" in message
        assert applied(migrated_db) == all_migrations


class TestReset:
    def test_reset_with_yes_removes_all_data_and_reapplies_the_schema(self, migrated_db, all_migrations):
        add_flow(migrated_db, "to-be-wiped")
        ok(manage("database", "reset", "-y", url=migrated_db.url, home=migrated_db.home))
        assert flow_names(migrated_db) == "[]"
        assert applied(migrated_db) == all_migrations

    def test_reset_without_yes_and_without_a_terminal_refuses_and_keeps_the_data(self, migrated_db):
        add_flow(migrated_db, "survivor")
        message = refused(manage("database", "reset", url=migrated_db.url, home=migrated_db.home))
        assert "no terminal" in message and "nothing was changed" in message
        assert flow_names(migrated_db) == "['survivor']"

    @pytest.mark.parametrize("answer, wiped", [("n", False), ("y", True)])
    def test_reset_asks_on_a_terminal_and_follows_the_answer(self, migrated_db, answer, wiped):
        add_flow(migrated_db, "maybe")
        controller, terminal = pty.openpty()
        try:
            os.write(controller, f"{answer}\n".encode())
            finished = manage("database", "reset", url=migrated_db.url, home=migrated_db.home, stdin=terminal)
        finally:
            os.close(terminal)
            os.close(controller)
        assert "removes ALL data" in finished.stdout
        assert (finished.returncode == 0) is wiped
        assert flow_names(migrated_db) == ("[]" if wiped else "['maybe']")


class TestDatabaseEcho:
    def test_echo_true_logs_every_sql_statement(self, empty_db):
        finished = ok(manage("database", "upgrade", "-y", "-r", "-1", url=empty_db.url, home=empty_db.home,
                             env={"PREFECT_API_DATABASE_ECHO": "true"}))
        assert 'CREATE TABLE "django_content_type"' in finished.stderr
        assert "SELECT" in finished.stderr

    def test_echo_false_logs_no_sql(self, empty_db):
        finished = ok(manage("database", "upgrade", "-y", "-r", "-1", url=empty_db.url, home=empty_db.home))
        assert "CREATE TABLE" not in finished.stderr + finished.stdout
        assert "SELECT" not in finished.stderr + finished.stdout


class TestUnreachableDatabase:
    @pytest.mark.parametrize("command", [
        ["revisions"], ["upgrade", "-y"], ["downgrade", "-y"], ["reset", "-y"], ["upgrade", "--dry-run"],
    ])
    def test_a_refused_connection_is_one_clear_line_with_the_password_hidden(self, tmp_path, command):
        port = free_port()
        url = f"postgresql+asyncpg://postgres:hunter2@127.0.0.1:{port}/nowhere"
        message = refused(manage("database", *command, url=url, home=tmp_path, timeout=60))
        assert message.strip().splitlines() == [
            f"CommandError: Cannot connect to the database at postgresql://postgres:********@127.0.0.1:{port}/nowhere: "
            "connection refused (is the server running and accepting TCP/IP connections?)"
        ]

    def test_the_password_placeholder_is_filled_in_before_connecting(self, tmp_path):
        port = free_port()
        url = f"postgresql+asyncpg://postgres:${{PREFECT_API_DATABASE_PASSWORD}}@127.0.0.1:{port}/nowhere"
        message = refused(manage("database", "revisions", url=url, home=tmp_path, timeout=60,
                                 env={"PREFECT_API_DATABASE_PASSWORD": "p@ss/w:rd"}))
        # The '@' and '/' in the password did not move the host, port or database name.
        assert f"postgresql://postgres:********@127.0.0.1:{port}/nowhere: connection refused" in message
        assert "p@ss" not in message

    @on_postgres
    def test_a_missing_postgres_database_is_named(self, tmp_path):
        url = urlunsplit(urlsplit(postgres_admin_url())._replace(path="/dbadmin_missing_database"))
        message = refused(manage("database", "upgrade", "-y", url=url, home=tmp_path, timeout=60))
        assert message.strip().splitlines() == [
            "CommandError: Cannot connect to the database at postgresql://postgres@127.0.0.1:5432/"
            'dbadmin_missing_database: database "dbadmin_missing_database" does not exist'
        ]


class TestInMemoryDatabase:
    URL = "sqlite+aiosqlite:///file::memory:?cache=shared&uri=true&check_same_thread=false"

    @pytest.mark.parametrize("command", [["upgrade", "-y"], ["downgrade", "-y"], ["reset", "-y"]])
    def test_changing_commands_explain_that_the_database_lives_inside_one_process(self, tmp_path, command):
        message = refused(manage("database", *command, url=self.URL, home=tmp_path))
        assert "in-memory SQLite" in message and "`serve` creates the schema" in message

    def test_revisions_lists_everything_as_pending(self, tmp_path, all_migrations):
        finished = ok(manage("database", "revisions", url=self.URL, home=tmp_path))
        assert f"0 of {len(all_migrations)} migrations applied" in finished.stdout


@on_postgres
class TestPasswordPlaceholderOnPostgres:
    def test_a_url_with_the_placeholder_reaches_the_database(self, migrated_db, all_migrations):
        parts = urlsplit(migrated_db.url)
        url = urlunsplit(parts._replace(netloc=f"postgres:${{PREFECT_API_DATABASE_PASSWORD}}@{parts.hostname}:"
                                                f"{parts.port or 5432}"))
        finished = ok(manage("database", "revisions", url=url, home=migrated_db.home,
                             env={"PREFECT_API_DATABASE_PASSWORD": "any-password"}))
        assert f"{len(all_migrations)} of {len(all_migrations)} migrations applied" in finished.stdout
        assert "any-password" not in finished.stdout


@on_postgres
class TestTrigramSearchMigration:
    INDEXES = {"runs_flow_name_trgm", "runs_flowrun_name_trgm", "runs_taskrun_name_trgm", "runs_log_message_trgm"}

    def trigram_indexes(self, db):
        with postgres_connect(db.url) as conn:
            rows = conn.execute("SELECT indexname FROM pg_indexes WHERE indexname LIKE '%_trgm'").fetchall()
            return {name for (name,) in rows}

    def test_upgrade_enables_pg_trgm_and_the_name_search_indexes(self, migrated_db):
        with postgres_connect(migrated_db.url) as conn:
            assert conn.execute("SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm'").fetchone()
        assert self.trigram_indexes(migrated_db) == self.INDEXES

    def test_icontains_searches_use_the_trigram_index(self, migrated_db):
        plan = run_orm(
            "from django.db import connection\n"
            "from runs.models import FlowRun\n"
            "sql, params = FlowRun.objects.filter(name__icontains='abc').query.sql_with_params()\n"
            "with connection.cursor() as cursor:\n"
            "    cursor.execute('SET enable_seqscan = off')\n"
            "    cursor.execute('EXPLAIN ' + sql, params)\n"
            "    print(' '.join(row[0] for row in cursor.fetchall()))\n",
            url=migrated_db.url, home=migrated_db.home,
        )
        assert "Index Scan on runs_flowrun_name_trgm" in plan

    def test_downgrading_past_it_drops_the_indexes_and_upgrading_restores_them(self, migrated_db):
        ok(manage("database", "downgrade", "-y", "-r", "runs.0005", url=migrated_db.url, home=migrated_db.home))
        assert self.trigram_indexes(migrated_db) == set()
        ok(manage("database", "upgrade", "-y", url=migrated_db.url, home=migrated_db.home))
        assert self.trigram_indexes(migrated_db) == self.INDEXES

    def test_a_role_that_may_not_create_the_extension_gets_a_clear_error(self, tmp_path):
        role = f"dbadmin_role_{uuid.uuid4().hex[:8]}"
        name = f"dbadmin_{uuid.uuid4().hex[:12]}"
        admin = postgres_admin_url()
        with postgres_connect(admin) as conn:
            conn.execute(f'CREATE ROLE "{role}" LOGIN')
            conn.execute(f'CREATE DATABASE "{name}"')
        database = Database("postgres", tmp_path, urlunsplit(urlsplit(admin)._replace(path=f"/{name}")), admin)
        try:
            with postgres_connect(database.url) as conn:
                conn.execute(f'GRANT ALL ON SCHEMA public TO "{role}"')
            parts = urlsplit(database.url)
            url = urlunsplit(parts._replace(netloc=f"{role}@{parts.hostname}:{parts.port or 5432}"))
            message = refused(manage("database", "upgrade", "-y", url=url, home=tmp_path))
            assert "Cannot enable the PostgreSQL extension pg_trgm" in message
            assert "CREATE EXTENSION pg_trgm;" in message
            assert len(message.strip().splitlines()) == 1
        finally:
            database.drop()
            with postgres_connect(admin) as conn:
                conn.execute(f'DROP ROLE IF EXISTS "{role}"')

"""The SQLite backend queues writers on a file lock: a second transaction waits for the first to
end (commit, rollback or close) and then proceeds at once, without SQLite's sleeping busy handler."""

import threading
import time

import pytest
from django.db.utils import ConnectionHandler

from orchestrator_site.config import sqlite_config


@pytest.fixture(autouse=True)
def own_databases(django_db_blocker, monkeypatch):
    # Playwright's session-wide browser keeps an event loop running in this thread once browser
    # tests have run; these plain sync connections are not affected by it.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with django_db_blocker.unblock():  # scratch files of our own, not the test database
        yield


def connection_to(path):
    handler = ConnectionHandler({"default": sqlite_config(str(path))})
    return handler["default"]


def begin(conn):
    conn.set_autocommit(False, force_begin_transaction_with_broken_autocommit=True)


def test_a_second_writer_waits_for_the_first_to_commit_and_then_goes_at_once(tmp_path):
    first = connection_to(tmp_path / "db.sqlite3")
    begin(first)
    first.cursor().execute("CREATE TABLE t (x INTEGER)")
    timeline = {}

    def second_writer():
        second = connection_to(tmp_path / "db.sqlite3")
        begin(second)
        timeline["second_began"] = time.monotonic()
        second.cursor().execute("INSERT INTO t VALUES (2)")
        second.commit()
        second.set_autocommit(True)
        second.close()

    thread = threading.Thread(target=second_writer)
    thread.start()
    time.sleep(0.3)
    assert "second_began" not in timeline  # queued on the lock, not running beside the first
    first.cursor().execute("INSERT INTO t VALUES (1)")
    first.commit()
    committed = time.monotonic()
    first.set_autocommit(True)
    thread.join(5)
    assert timeline["second_began"] - committed < 0.05  # woken by the release, not a busy-handler nap
    assert sorted(first.cursor().execute("SELECT x FROM t").fetchall()) == [(1,), (2,)]
    first.close()


def test_rollback_and_close_release_the_lock(tmp_path):
    first = connection_to(tmp_path / "db.sqlite3")
    begin(first)
    first.rollback()
    first.set_autocommit(True)
    begin(first)  # taken again after the rollback released it
    first.close()  # closing inside a transaction releases it too

    done = threading.Event()

    def writer():
        second = connection_to(tmp_path / "db.sqlite3")
        begin(second)
        second.rollback()
        second.set_autocommit(True)
        done.set()

    threading.Thread(target=writer).start()
    assert done.wait(2)

"""Competing proposals on one run are decided one after the other, never both on a stale state."""

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import OperationalError, connection

from runs.models import FlowRun, FlowRunState
from runs.orchestration.engine import orchestrate_flow_run
from runs.orchestration.rules.common import CopyScheduledTime

# transaction=True: each thread commits for real, so the row lock is what keeps them apart.
pytestmark = pytest.mark.django_db(transaction=True)


def propose_waiting_for_the_lock(flow_run_id, proposed):
    for _ in range(200):
        try:
            return orchestrate_flow_run(flow_run_id=flow_run_id, proposed=proposed)
        except OperationalError as exc:
            # The in-memory SQLite test database is shared between connections through SQLite's
            # shared cache, where a held write lock fails BEGIN at once ("table is locked")
            # instead of waiting out the busy timeout as a file database does; wait here instead.
            if connection.vendor != "sqlite" or "locked" not in str(exc):
                raise
            time.sleep(0.05)
    raise AssertionError("the write lock was never released")


class TestCompetingSubmissions:
    def test_two_workers_proposing_pending_cannot_both_win(self, make_flow_run, monkeypatch):
        run = make_flow_run("SCHEDULED")
        workers = 2
        barrier = threading.Barrier(workers)
        copy_scheduled_time = CopyScheduledTime.before_transition

        def slow_copy(self, ctx):
            # Hold the decision open so an unlocked second proposal would read the same Scheduled.
            time.sleep(0.3)
            copy_scheduled_time(self, ctx)

        monkeypatch.setattr(CopyScheduledTime, "before_transition", slow_copy)

        def submit(_):
            try:
                barrier.wait(timeout=10)
                return propose_waiting_for_the_lock(run.id, {"type": "PENDING", "name": "Pending"}).status
            finally:
                connection.close()

        with ThreadPoolExecutor(workers) as pool:
            statuses = sorted(pool.map(submit, range(workers)))

        assert statuses == ["ABORT", "ACCEPT"]
        assert FlowRunState.objects.filter(flow_run_id=run.id).count() == 2
        assert FlowRun.objects.get(pk=run.id).state_type == "PENDING"

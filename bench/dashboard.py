"""Render time and query count of every dashboard page with a big history.

Seeds a database (once; reruns reuse it) with `--runs` flow runs spread over `--days` days, each
with three states, two task runs and `--logs / --runs` log lines, plus one large run with
`--big-run-tasks` task runs and `--big-run-logs` log lines; then renders each page `--repeat` times
in process (Django test client: URL routing, view, queries, template; no HTTP) and prints one line
per page: median and worst milliseconds and the number of SQL queries.

    .venv/bin/python bench/dashboard.py                       # PostgreSQL database bench_dashboard
    .venv/bin/python bench/dashboard.py --database-url sqlite+aiosqlite:////tmp/bench-dashboard.db
    .venv/bin/python bench/dashboard.py --runs 1000 --logs 10000   # a quick look

The target (issue 3): every page under 200 ms with 100,000 runs and 1,000,000 log lines on PostgreSQL.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import time
import uuid
from urllib.parse import quote
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/bench_dashboard"
TARGET_MS = 200
BATCH = 5000


def main() -> int:
    args = parse_args()
    prepare_database(args.database_url)
    os.environ["PREFECT_API_DATABASE_CONNECTION_URL"] = args.database_url
    os.environ.setdefault("PREFECT_HOME", tempfile.mkdtemp(prefix="bench-dashboard-home-"))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "orchestrator_site.settings")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    seed(args)
    refresh_statistics()
    pages = page_list(args)
    return measure(pages, args.repeat)


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_URL))
    parser.add_argument("--runs", type=int, default=100_000)
    parser.add_argument("--logs", type=int, default=1_000_000)
    parser.add_argument("--flows", type=int, default=50)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--big-run-tasks", type=int, default=2_000)
    parser.add_argument("--big-run-logs", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=15)
    return parser.parse_args()


def prepare_database(url: str) -> None:
    """Create the PostgreSQL database if it does not exist (SQLite files create themselves)."""
    if not url.startswith("postgres"):
        return
    from urllib.parse import urlsplit

    import psycopg

    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    with psycopg.connect(host=parts.hostname or "127.0.0.1", port=parts.port or 5432, user=parts.username or "postgres",
                         password=parts.password, dbname="postgres", autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')


# Seeding ---------------------------------------------------------------------------------------

STATE_MIX = [("COMPLETED", 80), ("FAILED", 10), ("CRASHED", 2), ("CANCELLED", 3), ("RUNNING", 2),
             ("SCHEDULED", 2), ("PENDING", 1)]
LEVELS = [(20, 85), (10, 5), (30, 7), (40, 3)]


def weighted(choices):
    values, weights = zip(*choices)
    return random.choices(values, weights=weights)[0]


def seed(args) -> None:
    from django.db import transaction
    from django.utils import timezone

    from runs.models import Flow, FlowRun

    existing = FlowRun.objects.count()
    if existing >= args.runs:
        print(f"seed: reusing {existing} flow runs", file=sys.stderr)
        return
    random.seed(3)
    began = time.perf_counter()
    now = timezone.now()
    flows = [Flow(name=f"bench-flow-{index:03d}", tags=["bench"]) for index in range(args.flows)]
    Flow.objects.bulk_create(flows, ignore_conflicts=True)
    flows = list(Flow.objects.filter(name__startswith="bench-flow-"))
    logs_per_run = max(args.logs // max(args.runs, 1), 0)
    todo = args.runs - existing
    for start in range(0, todo, BATCH):
        count = min(BATCH, todo - start)
        with transaction.atomic():
            insert_runs(count, flows, now, args.days, logs_per_run)
        print(f"seed: {start + count}/{todo} runs", file=sys.stderr)
    with transaction.atomic():
        insert_big_run(flows[0], now, args.big_run_tasks, args.big_run_logs)
    print(f"seed: done in {time.perf_counter() - began:.0f}s", file=sys.stderr)


def make_run(flow, expected, state_type, name, now):
    """A run row and its state history (Pending, Running, final), consistent with each other."""
    from runs.models import FlowRun, FlowRunState

    run_id = uuid.uuid4()
    started = expected + timedelta(seconds=random.randint(0, 30))
    ran = timedelta(seconds=random.randint(1, 900))
    history = [("PENDING", "Pending", expected)]
    if state_type not in ("SCHEDULED", "PENDING"):
        history.append(("RUNNING", "Running", started))
    if state_type not in ("SCHEDULED", "PENDING", "RUNNING"):
        history.append((state_type, state_type.title(), started + ran))
    if state_type == "SCHEDULED":
        history = [("SCHEDULED", "Scheduled", expected)]
    states = [FlowRunState(id=uuid.uuid4(), flow_run_id=run_id, type=t, name=n, timestamp=ts,
                           message="Boom" if t == "FAILED" else None, state_details={}) for t, n, ts in history]
    final = states[-1]
    finished = state_type in ("COMPLETED", "FAILED", "CRASHED", "CANCELLED")
    run = FlowRun(
        id=run_id, flow=flow, name=name, tags=random.choice([[], ["prod"], ["prod", "nightly"], ["dev"]]),
        parameters={"day": expected.date().isoformat()}, state_id=final.id, state_type=final.type,
        state_name=final.name, state_timestamp=final.timestamp, run_count=1 if len(history) > 1 else 0,
        expected_start_time=expected, start_time=started if len(history) > 1 else None,
        end_time=started + ran if finished else None, total_run_time=ran if finished else timedelta(0),
        empirical_policy={},
    )
    return run, states


def insert_runs(count, flows, now, days, logs_per_run):
    from runs.models import FlowRun, FlowRunState, Log, TaskRun

    runs, states, tasks, logs = [], [], [], []
    for _ in range(count):
        expected = now - timedelta(seconds=random.uniform(0, days * 86400))
        run, run_states = make_run(random.choice(flows), expected, weighted(STATE_MIX), f"run-{uuid.uuid4().hex[:10]}", now)
        runs.append(run)
        states.extend(run_states)
        if run.start_time:
            for index in range(2):
                begin = run.start_time + timedelta(seconds=index * 5)
                tasks.append(TaskRun(flow_run_id=run.id, name=f"task-{index}", task_key=f"task-{index}", dynamic_key="0",
                                     state_type="COMPLETED", state_name="Completed", start_time=begin,
                                     end_time=begin + timedelta(seconds=4), expected_start_time=begin,
                                     total_run_time=timedelta(seconds=4), empirical_policy={}))
            for index in range(logs_per_run):
                logs.append(Log(name="prefect.flow_runs", level=weighted(LEVELS), flow_run_id=run.id,
                                message=f"step {index} processed {random.randint(1, 10_000)} rows",
                                timestamp=run.start_time + timedelta(milliseconds=index * 37)))
    FlowRun.objects.bulk_create(runs, batch_size=BATCH)
    FlowRunState.objects.bulk_create(states, batch_size=BATCH)
    TaskRun.objects.bulk_create(tasks, batch_size=BATCH)
    Log.objects.bulk_create(logs, batch_size=BATCH)


def insert_big_run(flow, now, task_count, log_count):
    from runs.models import FlowRun, FlowRunState, Log, TaskRun

    run, states = make_run(flow, now - timedelta(hours=2), "COMPLETED", "bench-big-run", now)
    FlowRun.objects.bulk_create([run])
    FlowRunState.objects.bulk_create(states)
    TaskRun.objects.bulk_create([
        TaskRun(flow_run_id=run.id, name=f"big-task-{index}", task_key="big-task", dynamic_key=str(index),
                state_type="COMPLETED", state_name="Completed", start_time=run.start_time + timedelta(seconds=index % 600),
                end_time=run.start_time + timedelta(seconds=index % 600 + 3), expected_start_time=run.start_time,
                total_run_time=timedelta(seconds=3), empirical_policy={})
        for index in range(task_count)
    ], batch_size=BATCH)
    Log.objects.bulk_create([
        Log(name="prefect.task_runs", level=weighted(LEVELS), flow_run_id=run.id, message=f"big line {index}",
            timestamp=run.start_time + timedelta(milliseconds=index * 11))
        for index in range(log_count)
    ], batch_size=BATCH)


def refresh_statistics() -> None:
    """What autovacuum does some time after a bulk load: planner statistics and the visibility map.
    Without it the planner guesses a handful of rows where there are thousands."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE" if connection.vendor == "postgresql" else "ANALYZE")


# Measuring -------------------------------------------------------------------------------------


def page_list(args) -> list[tuple[str, str, dict]]:
    """(label, path, extra headers) for every page and fragment the dashboard serves."""
    from runs.domain.dashboard import LogCursor
    from runs.models import Flow, FlowRun, Log

    big = FlowRun.objects.filter(name="bench-big-run").order_by("-created").first()
    typical = FlowRun.objects.filter(state_type="COMPLETED").exclude(id=big.id).order_by("-expected_start_time").first()
    active = FlowRun.objects.filter(state_type="RUNNING").order_by("-expected_start_time").first() or typical
    flow = Flow.objects.filter(name__startswith="bench-flow-").order_by("name").first()
    middle = Log.objects.filter(flow_run_id=big.id).order_by("timestamp", "id")[args.big_run_logs // 2]
    cursor = LogCursor(middle.timestamp, middle.id).token()
    htmx = lambda target: {"HTTP_HX_REQUEST": "true", "HTTP_HX_TARGET": target}  # noqa: E731
    pages = [
        ("home (day)", "/", {}),
        ("home (hour)", "/?window=hour", {}),
        ("home (week)", "/?window=week", {}),
        ("home stats refresh", "/?window=day", htmx("home-stats")),
        ("runs", "/runs/", {}),
        ("runs: failed", "/runs/?state=FAILED&state=CRASHED", {}),
        ("runs: tag + 7d", "/runs/?tag=nightly&range=7d", {}),
        ("runs: name search", "/runs/?q=run-ab", {}),
        ("runs: flow + sort name", f"/runs/?flow={flow.id}&sort=name", {}),
        ("runs: longest first", "/runs/?sort=duration", {}),
        ("runs: page 100", "/runs/?page=100", {}),
        ("runs table fragment", "/runs/?state=COMPLETED", htmx("run-table")),
        ("flows", "/flows/", {}),
        ("flow page", f"/flows/{flow.id}/", {}),
        ("run page (typical)", f"/runs/{typical.id}/", {}),
        ("run page (active)", f"/runs/{active.id}/", {}),
        (f"run page ({args.big_run_tasks} tasks)", f"/runs/{big.id}/", {}),
        ("run summary refresh", f"/runs/{active.id}/", htmx("run-summary")),
        ("logs (typical)", f"/runs/{typical.id}/logs/", htmx("log-lines")),
        (f"logs ({args.big_run_logs} lines, first page)", f"/runs/{big.id}/logs/", htmx("log-lines")),
        ("logs: after a position", f"/runs/{big.id}/logs/?after={quote(cursor)}", htmx("log-lines")),
        ("logs: errors only", f"/runs/{big.id}/logs/?level=error", htmx("log-lines")),
        ("logs: search", f"/runs/{big.id}/logs/?q=line+1999", htmx("log-lines")),
    ]
    return pages


def measure(pages, repeat: int) -> int:
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from runs.models import FlowRun, Log

    client = Client()
    print(f"{FlowRun.objects.count()} flow runs, {Log.objects.count()} log lines, {connection.vendor}")
    print(f"{'page':42} {'median ms':>10} {'max ms':>8} {'queries':>8}")
    slow = []
    for label, path, headers in pages:
        client.get(path, **headers)  # warm caches; not timed
        timings = []
        for _ in range(repeat):
            began = time.perf_counter()
            response = client.get(path, **headers)
            timings.append((time.perf_counter() - began) * 1000)
            if response.status_code != 200:
                raise SystemExit(f"{path} answered {response.status_code}")
        with CaptureQueriesContext(connection) as queries:
            client.get(path, **headers)
        median = statistics.median(timings)
        print(f"{label:42} {median:10.1f} {max(timings):8.1f} {len(queries.captured_queries):8d}")
        if median > TARGET_MS:
            slow.append(label)
    print(f"over {TARGET_MS} ms (median): {', '.join(slow) if slow else 'none'}")
    return 1 if slow else 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Render time and query count of every dashboard page with a big history.

Seeds a database (once; reruns reuse it) with `--runs` flow runs spread over `--days` days, each
with three states, two task runs and `--logs / --runs` log lines, plus one large run with
`--big-run-tasks` task runs and `--big-run-logs` log lines. Then the rest of what a busy server holds:
`--work-pools` pools (4 queues and 10 workers each), `--deployments` deployments (most with a
schedule and a work queue; the runs are shared out among them, some Late, with 10 upcoming runs per
scheduled deployment), `--blocks` block documents of 12 types (one type nests another), `--variables`
variables, `--artifacts` artifacts (half of them 10 versions per key) and `--concurrency-limits`
limits with leases, `--notification-policies` policies with `--notification-deliveries`
deliveries when the notifications app has its tables, and `--events` events with their resources (the
state changes of a sample of the runs, one task-run event each, the big run's task-run events, work
pool events). Each kind is seeded on its own, with bulk inserts, the first time it is missing.

It then renders each page `--repeat` times in process (Django test client: URL routing, view,
queries, template; no HTTP) and prints one line per page: median and worst milliseconds and the
number of SQL queries. A page that is not there yet (404) is reported as such and skipped.

    .venv/bin/python bench/dashboard.py                       # PostgreSQL database bench_dashboard
    .venv/bin/python bench/dashboard.py --database-url sqlite+aiosqlite:////tmp/bench-dashboard.db
    .venv/bin/python bench/dashboard.py --runs 1000 --logs 10000   # a quick look

The target (issue 3): every page under 200 ms with 100,000 runs and 1,000,000 log lines on PostgreSQL.
"""

from __future__ import annotations

import argparse
import os
import base64
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
# Block documents are stored encrypted; a fixed key (bench data only) keeps a reused database readable
# whatever PREFECT_HOME the next run gets.
BENCH_ENCRYPTION_KEY = base64.urlsafe_b64encode(b"bench-dashboard-not-a-secret-key").decode()


def main() -> int:
    args = parse_args()
    prepare_database(args.database_url)
    os.environ["PREFECT_API_DATABASE_CONNECTION_URL"] = args.database_url
    os.environ.setdefault("PREFECT_HOME", tempfile.mkdtemp(prefix="bench-dashboard-home-"))
    os.environ.setdefault("PREFECT_SERVER_ENCRYPTION_KEY", BENCH_ENCRYPTION_KEY)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "orchestrator_site.settings")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    seed(args)
    refresh_statistics()
    pages = [page for page in page_list(args) if args.only in page[0]]
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
    parser.add_argument("--work-pools", type=int, default=20)
    parser.add_argument("--deployments", type=int, default=500)
    parser.add_argument("--blocks", type=int, default=600)
    parser.add_argument("--variables", type=int, default=2_000)
    parser.add_argument("--artifacts", type=int, default=20_000)
    parser.add_argument("--concurrency-limits", type=int, default=50)
    parser.add_argument("--notification-policies", type=int, default=20)
    parser.add_argument("--notification-deliveries", type=int, default=5_000)
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--only", default="", help="measure only the pages whose label contains this text")
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

    seed_runs(args)
    for kind, seed_kind in (("work pools", seed_work_pools), ("deployments", seed_deployments),
                            ("blocks", seed_blocks), ("variables", seed_variables), ("artifacts", seed_artifacts),
                            ("concurrency limits", seed_concurrency_limits), ("notifications", seed_notifications),
                            ("events", seed_events)):
        began = time.perf_counter()
        with transaction.atomic():
            done = seed_kind(args)
        print(f"seed: {kind}: {done} ({time.perf_counter() - began:.0f}s)", file=sys.stderr)


def seed_runs(args) -> None:
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


def seed_work_pools(args) -> str:
    """Pools of process workers: 4 queues each (one limited), 10 workers each, half of them online."""
    from django.utils import timezone

    from runs.models import WorkPool, WorkQueue, Worker

    if WorkPool.objects.filter(name__startswith="bench-pool-").exists():
        return "reused"
    now = timezone.now()
    pools, queues, workers = [], [], []
    for index in range(args.work_pools):
        pool = WorkPool(id=uuid.uuid4(), name=f"bench-pool-{index:02d}", type="process", status="READY",
                        concurrency_limit=20 if index % 4 == 0 else None,
                        base_job_template={"job_configuration": {"command": "{{ command }}"}, "variables": {}})
        pool_queues = [WorkQueue(id=uuid.uuid4(), work_pool_id=pool.id, name=name, priority=priority,
                                 concurrency_limit=5 if name == "batch" else None, status="READY",
                                 last_polled=now - timedelta(seconds=random.randint(1, 30)))
                       for priority, name in enumerate(("default", "high", "low", "batch"), start=1)]
        pool.default_queue_id = pool_queues[0].id
        pools.append(pool)
        queues.extend(pool_queues)
        for number in range(10):
            online = number % 2 == 0
            workers.append(Worker(work_pool_id=pool.id, name=f"ProcessWorker {uuid.uuid4()}", heartbeat_interval_seconds=30,
                                  status="ONLINE" if online else "OFFLINE",
                                  last_heartbeat_time=now - timedelta(seconds=random.randint(1, 30) if online
                                                                      else random.randint(600, 86400))))
    WorkPool.objects.bulk_create(pools)
    WorkQueue.objects.bulk_create(queues)
    Worker.objects.bulk_create(workers)
    return f"{len(pools)} pools, {len(queues)} queues, {len(workers)} workers"


PARAMETER_SCHEMA = {
    "type": "object", "title": "Parameters", "required": ["day"],
    "properties": {
        "day": {"type": "string", "title": "day", "position": 0},
        "limit": {"type": "integer", "title": "limit", "default": 1000, "position": 1},
        "dry_run": {"type": "boolean", "title": "dry_run", "default": False, "position": 2},
        "mode": {"enum": ["full", "incremental"], "title": "mode", "default": "incremental", "position": 3},
        "options": {"type": "object", "title": "options", "default": {}, "position": 4},
    },
}


def seed_deployments(args) -> str:
    """Deployments spread over the flows (most on a work queue, most scheduled); the existing runs are
    shared out among them (a few per flow stay without one), Scheduled runs on a queue become Late, and
    each scheduled deployment gets the upcoming runs the scheduler would have made."""
    from django.utils import timezone

    from runs.models import Deployment, DeploymentSchedule, Flow, FlowRun, FlowRunState, WorkQueue

    if Deployment.objects.filter(name__startswith="bench-deployment-").exists():
        return "reused"
    now = timezone.now()
    flows = list(Flow.objects.filter(name__startswith="bench-flow-").order_by("name"))
    queues = list(WorkQueue.objects.filter(work_pool__name__startswith="bench-pool-").order_by("work_pool__name", "priority"))
    deployments, schedules = [], []
    for index in range(args.deployments):
        queue = queues[index % len(queues)] if queues and index % 5 else None  # every fifth is served
        deployment = Deployment(
            id=uuid.uuid4(), flow=flows[index % len(flows)], name=f"bench-deployment-{index:04d}", version=uuid.uuid4().hex[:8],
            description="Loads one day of data into the warehouse.", paused=index % 20 == 0,
            parameters={"limit": 500}, parameter_openapi_schema=PARAMETER_SCHEMA, tags=random.choice([[], ["prod"], ["etl", "prod"]]),
            work_queue=queue, work_queue_name=queue.name if queue else None, entrypoint="flows/etl.py:load",
            status="READY" if index % 3 else "NOT_READY", last_polled=now - timedelta(seconds=random.randint(1, 3600)),
            created_by={"type": "USER", "display_value": "bench"},
        )
        deployments.append(deployment)
        if index % 10 < 7:
            schedules.append(DeploymentSchedule(deployment=deployment, schedule={
                "interval": random.choice([600, 3600, 86400]), "anchor_date": "2026-01-01T00:00:00+00:00", "timezone": "UTC"}))
        if index % 10 == 7:
            schedules.append(DeploymentSchedule(deployment=deployment, schedule={"cron": "0 6 * * *", "timezone": "Europe/Berlin",
                                                                                "day_or": True}))
            schedules.append(DeploymentSchedule(deployment=deployment, slug="weekend", active=index % 3 == 0,
                                                schedule={"cron": "0 9 * * 6,0", "timezone": "UTC", "day_or": True}))
    Deployment.objects.bulk_create(deployments)
    DeploymentSchedule.objects.bulk_create(schedules)

    by_flow: dict = {}
    for deployment in deployments:
        by_flow.setdefault(deployment.flow_id, []).append(deployment)
    shares: dict = {}
    for run_id, flow_id in FlowRun.objects.exclude(name="bench-big-run").values_list("id", "flow_id").iterator():
        candidates = by_flow.get(flow_id) or []
        slot = random.randrange(len(candidates) + 1)
        if slot < len(candidates):
            shares.setdefault(candidates[slot].id, []).append(run_id)
    deployment_by_id = {deployment.id: deployment for deployment in deployments}
    for deployment_id, run_ids in shares.items():
        deployment = deployment_by_id[deployment_id]
        for start in range(0, len(run_ids), 1000):
            FlowRun.objects.filter(id__in=run_ids[start:start + 1000]).update(
                deployment_id=deployment_id, deployment_version=deployment.version, work_queue_id=deployment.work_queue_id,
                work_queue_name=deployment.work_queue_name)
    late = FlowRun.objects.filter(state_type="SCHEDULED", work_queue_id__isnull=False, expected_start_time__lt=now)
    FlowRunState.objects.filter(id__in=late.values("state_id")).update(name="Late")
    late_count = late.update(state_name="Late")

    upcoming, upcoming_states = [], []
    scheduled = {schedule.deployment_id for schedule in schedules}
    for deployment in deployments:
        if deployment.id not in scheduled or deployment.paused:
            continue
        for step in range(1, 11):
            expected = now + timedelta(hours=step)
            run, states = make_run(deployment.flow, expected, "SCHEDULED", f"scheduled-{uuid.uuid4().hex[:10]}", now)
            run.deployment_id, run.deployment_version = deployment.id, deployment.version
            run.work_queue_id, run.work_queue_name = deployment.work_queue_id, deployment.work_queue_name
            run.next_scheduled_start_time, run.auto_scheduled = expected, True
            run.idempotency_key = f"scheduled {deployment.id} bench {expected.isoformat()}"
            run.parameters = {"limit": 500, "day": expected.date().isoformat()}
            upcoming.append(run)
            upcoming_states.extend(states)
    FlowRun.objects.bulk_create(upcoming, batch_size=BATCH)
    FlowRunState.objects.bulk_create(upcoming_states, batch_size=BATCH)
    return (f"{len(deployments)} deployments, {len(schedules)} schedules, {sum(map(len, shares.values()))} runs assigned, "
            f"{late_count} Late, {len(upcoming)} upcoming")


def block_schema_fields(title: str, nested_slug: str | None, nested_checksum: str | None) -> dict:
    fields = {
        "title": title, "type": "object", "required": ["url"], "secret_fields": ["token"],
        "properties": {
            "url": {"title": "URL", "type": "string", "position": 0},
            "token": {"title": "Token", "type": "string", "format": "password", "writeOnly": True, "position": 1},
            "retries": {"title": "Retries", "type": "integer", "default": 3, "position": 2},
            "verify": {"title": "Verify", "type": "boolean", "default": True, "position": 3},
            "options": {"title": "Options", "type": "object", "position": 4},
        },
        "block_type_slug": title.lower().replace(" ", "-"), "block_schema_references": {},
    }
    if nested_slug:
        fields["properties"]["credentials"] = {"title": "Credentials", "allOf": [{"$ref": "#/definitions/Credentials"}],
                                               "position": 5}
        fields["block_schema_references"]["credentials"] = {"block_type_slug": nested_slug,
                                                            "block_schema_checksum": nested_checksum}
    return fields


def seed_blocks(args) -> str:
    """12 block types with a schema each (one nests another) and `--blocks` documents spread over them."""
    from runs.domain.blocks import encrypt_data, schema_checksum
    from runs.models import BlockDocument, BlockDocumentReference, BlockSchema, BlockType

    if BlockType.objects.filter(slug__startswith="bench-").exists():
        return "reused"
    types, schemas = [], []
    for index in reversed(range(12)):  # the nested type (01) exists before the type that nests it (00)
        title = f"Bench {index:02d}"
        block_type = BlockType(id=uuid.uuid4(), name=title, slug=f"bench-{index:02d}", description="A bench block type.")
        nested = schemas[-11] if index == 0 else None  # bench-01's schema
        fields = block_schema_fields(title, "bench-01" if nested else None, nested.checksum if nested else None)
        types.append(block_type)
        schemas.append(BlockSchema(id=uuid.uuid4(), block_type=block_type, fields=fields, checksum=schema_checksum(fields),
                                   capabilities=["read-path", "write-path"] if index % 2 else []))
    BlockType.objects.bulk_create(types)
    BlockSchema.objects.bulk_create(schemas)
    documents = []
    for index in range(args.blocks):
        schema = schemas[index % len(schemas)]
        data = {"url": f"https://example.com/{index}", "token": uuid.uuid4().hex, "retries": index % 5,
                "verify": True, "options": {"region": "eu-west-1"}}
        documents.append(BlockDocument(id=uuid.uuid4(), name=f"block-{index:04d}", block_schema=schema,
                                       block_type_id=schema.block_type_id, encrypted_data=encrypt_data(data)))
    BlockDocument.objects.bulk_create(documents, batch_size=BATCH)
    by_type: dict = {}
    for document in documents:
        by_type.setdefault(document.block_type_id, []).append(document)
    nesting, nested = by_type[types[-1].id], by_type[types[-2].id]  # bench-00 documents point at bench-01 ones
    references = [BlockDocumentReference(name="credentials", parent_block_document=parent,
                                         reference_block_document=nested[number % len(nested)])
                  for number, parent in enumerate(nesting)]
    BlockDocumentReference.objects.bulk_create(references)
    return f"{len(types)} types, {len(documents)} documents, {len(references)} references"


def seed_variables(args) -> str:
    from runs.models import Variable

    if Variable.objects.filter(name__startswith="bench_").exists():
        return "reused"
    values = [lambda i: f"value {i}", lambda i: i, lambda i: {"threshold": i, "enabled": True, "owners": ["data", "ops"]},
              lambda i: [i, i + 1, i + 2], lambda i: None]
    Variable.objects.bulk_create([
        Variable(name=f"bench_{index:05d}", value=values[index % len(values)](index), tags=["bench"] if index % 3 else [])
        for index in range(args.variables)
    ], batch_size=BATCH)
    return f"{args.variables} variables"


def artifact_payload(kind: str, index: int):
    if kind == "markdown":
        return f"# Report {index}\n\n**{index}** rows loaded, *{index % 7}* rejected.\n\n- step one\n- step two\n"
    if kind == "table":
        return [{"id": row, "name": f"item-{row}", "amount": row * 1.5, "ok": row % 2 == 0} for row in range(20)]
    if kind == "link":
        return f"https://example.com/reports/{index}"
    return float(index % 101)  # progress


def set_created(model, rows, *, also_updated=True) -> None:
    """`created` is set on insert (auto_now_add): spread a seeded history over time afterwards.
    `rows` are (instance, created) pairs."""
    from django.db import connection

    id_field, time_field = model._meta.pk, model._meta.get_field("created")
    columns = "created = %s, updated = %s" if also_updated else "created = %s"
    params = []
    for instance, created in rows:
        when = time_field.get_db_prep_value(created, connection)
        params.append((*([when, when] if also_updated else [when]), id_field.get_db_prep_value(instance.pk, connection)))
    with connection.cursor() as cursor:
        cursor.executemany(f"UPDATE {model._meta.db_table} SET {columns} WHERE id = %s", params)


def seed_artifacts(args) -> str:
    """Half the artifacts are versions of keyed reports (10 per key, a collection row per key pointing
    at the latest), half are unkeyed one-offs; each belongs to a run."""
    from django.utils import timezone

    from runs.models import Artifact, ArtifactCollection, FlowRun

    if Artifact.objects.filter(key__startswith="bench-").exists():
        return "reused"
    now = timezone.now()
    run_ids = list(FlowRun.objects.filter(state_type="COMPLETED").values_list("id", flat=True)[:5000])
    kinds = ["markdown", "table", "link", "progress"]
    keyed = args.artifacts // 2
    artifacts, collections = [], []
    for index in range(args.artifacts):
        key_number, version = divmod(index, 10)
        key = f"bench-report-{key_number:04d}" if index < keyed else None
        kind = kinds[(key_number if key else index) % len(kinds)]
        created = now - timedelta(minutes=(keyed - index) if key else random.randint(0, 30 * 1440))
        artifact = Artifact(id=uuid.uuid4(), key=key, type=kind, description=f"Artifact {index}",
                            data=artifact_payload(kind, index), flow_run_id=random.choice(run_ids))
        artifacts.append((artifact, created))
        if key and version == 9:
            collections.append(ArtifactCollection(key=key, latest=artifact, type=kind, description=artifact.description,
                                                  data=artifact.data, flow_run_id=artifact.flow_run_id))
    Artifact.objects.bulk_create([artifact for artifact, _ in artifacts], batch_size=BATCH)
    ArtifactCollection.objects.bulk_create(collections, batch_size=BATCH)
    set_created(Artifact, artifacts)
    return f"{len(artifacts)} artifacts, {len(collections)} keys"


def seed_concurrency_limits(args) -> str:
    """Tag limits and global limits, some full; each active slot is a lease held by a run or task run,
    plus expired leases nobody reclaimed yet (the first read reclaims them)."""
    from django.utils import timezone

    from runs.models import ConcurrencyLease, ConcurrencyLeaseLimit, ConcurrencyLimit

    now = timezone.now()
    seeded = ConcurrencyLimit.objects.filter(name__contains="bench-")
    if seeded.exists():
        if ConcurrencyLease.objects.filter(expires_at__gt=now).exists():
            return "reused"
        seeded.delete()  # every lease has expired and been reclaimed since: seed the limits again
    limits, leases, links = [], [], []
    for index in range(args.concurrency_limits):
        name = f"tag:bench-{index:02d}" if index % 5 else f"bench-global-{index:02d}"
        size = random.choice([1, 5, 10, 50])
        used = random.randint(0, size)
        limit = ConcurrencyLimit(id=uuid.uuid4(), name=name, limit=size, active_slots=used,
                                 slot_decay_per_second=0.5 if index % 10 == 5 else 0.0)
        limits.append(limit)
        for number in range(used + 2):
            expired = number >= used
            lease = ConcurrencyLease(id=uuid.uuid4(), slots=1, holder_type="task_run" if index % 5 else "flow_run",
                                     holder_id=uuid.uuid4(),
                                     # Held ones as if renewed by live clients until the bench is long over.
                                     expires_at=now + (timedelta(seconds=-300) if expired else timedelta(days=1)))
            leases.append(lease)
            links.append(ConcurrencyLeaseLimit(lease=lease, limit=limit))
    ConcurrencyLimit.objects.bulk_create(limits)
    ConcurrencyLease.objects.bulk_create(leases, batch_size=BATCH)
    ConcurrencyLeaseLimit.objects.bulk_create(links, batch_size=BATCH)
    return f"{len(limits)} limits, {len(leases)} leases"


def seed_notifications(args) -> str:
    """Policies (made by the notifications domain, which checks and encrypts their settings) and a
    delivery history for each. The notifications app is younger than this bench: if its models or
    functions are not there, the seed says so and the page is measured with whatever it has."""
    from django.db import DatabaseError, connection, transaction
    from django.utils import timezone

    try:
        from notifications.models import Delivery, DeliveryAttempt, NotificationPolicy
        from notifications.policies import create_policy
        from runs.models import FlowRun
    except ImportError as exc:
        return f"skipped ({exc})"
    if NotificationPolicy._meta.db_table not in connection.introspection.table_names():
        return "skipped (no notifications tables)"
    if NotificationPolicy.objects.filter(name__startswith="bench-").exists():
        return "reused"
    now = timezone.now()
    run_ids = list(FlowRun.objects.filter(state_type="FAILED").values_list("id", flat=True)[:args.notification_deliveries])
    try:
        with transaction.atomic():  # a savepoint: a failure here leaves the rest of the seed intact
            return insert_notifications(args, create_policy, Delivery, DeliveryAttempt, run_ids, now)
    except (TypeError, ValueError, DatabaseError) as exc:
        return f"skipped ({type(exc).__name__}: {str(exc).splitlines()[0]})"


def insert_notifications(args, create_policy, Delivery, DeliveryAttempt, run_ids, now) -> str:
    policies = [
        create_policy(name=f"bench-policy-{index:02d}", state_names=["Failed", "Crashed"] if index % 2 else ["Late"],
                      tags=["prod"] if index % 3 else [], channel="webhook",
                      channel_config={"url": f"https://hooks.example.com/{index}"}, is_active=index % 7 != 0)
        for index in range(args.notification_policies)
    ]
    deliveries, attempts = [], []
    for index, run_id in enumerate(run_ids):
        policy = policies[index % len(policies)]
        sent = index % 10 != 0
        created = now - timedelta(minutes=len(run_ids) - index)
        delivery = Delivery(id=uuid.uuid4(), policy=policy, flow_run_id=run_id, state_id=uuid.uuid4(),
                            subject=f"Flow run {run_id} entered Failed", body="Flow run failed: Boom",
                            run_url=f"http://127.0.0.1:4200/runs/{run_id}/", status="SENT" if sent else "FAILED",
                            attempt_count=1 if sent else 3, sent_at=created if sent else None,
                            last_error="" if sent else "HTTP 500 from the webhook")
        deliveries.append((delivery, created))
        for number in range(1, delivery.attempt_count + 1):
            attempts.append(DeliveryAttempt(delivery=delivery, number=number, started_at=created, finished_at=created,
                                            status_code=200 if sent else 500))
    Delivery.objects.bulk_create([delivery for delivery, _ in deliveries], batch_size=BATCH)
    DeliveryAttempt.objects.bulk_create(attempts, batch_size=BATCH)
    set_created(Delivery, deliveries, also_updated=False)
    return f"{len(policies)} policies, {len(deliveries)} deliveries, {len(attempts)} attempts"


def seed_events(args) -> str:
    """Events as the server and the client record them: each sampled run's state changes (Pending,
    Running, final; related to its flow, deployment, work pool and tags) and one task-run event
    related to it, the big run's task-run events (one per task run), and work pool status events.
    Stored through the domain's own parsing and row shapes, with bulk inserts (no task-run folding)."""
    from django.utils import timezone

    from runs.domain.events import EVENT_COLUMNS, RESOURCE_COLUMNS, event_row, parse_event, resource_rows
    from runs.events.bulk import insert_rows
    from runs.models import Deployment, Event, EventResource, FlowRun, WorkPool

    existing = Event.objects.count()
    if existing >= args.events:
        return f"reusing {existing} events"
    random.seed(5)
    now = timezone.now()
    pools = {deployment_id: (pool_id, pool_name) for deployment_id, pool_id, pool_name in Deployment.objects.filter(
        work_queue__isnull=False).values_list("id", "work_queue__work_pool_id", "work_queue__work_pool__name")}
    columns = ["id", "name", "flow_id", "flow__name", "deployment_id", "tags", "state_type", "state_name",
               "expected_start_time", "start_time", "end_time"]
    big = FlowRun.objects.filter(name="bench-big-run").values(*columns).first()
    runs = list(FlowRun.objects.exclude(name="bench-big-run").filter(expected_start_time__lte=now).values(*columns))
    random.shuffle(runs)
    todo = args.events - existing
    stored = 0
    batch: list[dict] = []

    def flush():
        nonlocal stored, batch
        parsed = [parse_event(raw) for raw in batch]
        insert_rows(Event, EVENT_COLUMNS, [event_row(event, event.occurred) for event in parsed])
        insert_rows(EventResource, RESOURCE_COLUMNS, [row for event in parsed for row in resource_rows(event)])
        stored += len(batch)
        batch = []

    def add(raw):
        batch.append(raw)
        if len(batch) >= BATCH:
            flush()

    for raw in big_run_events(big, args.big_run_tasks):
        add(raw)
    for pool_id, name in WorkPool.objects.filter(name__startswith="bench-pool-").values_list("id", "name"):
        for number in range(50):
            status = "ready" if number % 2 else "not-ready"
            add({"id": str(uuid.uuid4()), "occurred": (now - timedelta(hours=number * 12 + random.random())).isoformat(),
                 "event": f"prefect.work-pool.{status}", "payload": {},
                 "resource": {"prefect.resource.id": f"prefect.work-pool.{pool_id}", "prefect.resource.name": name,
                              "prefect.work-pool.type": "process"}, "related": []})
    for run in runs:
        if stored + len(batch) >= todo:
            break
        for raw in run_events(run, pools.get(run["deployment_id"])):
            add(raw)
    if batch:
        flush()
    return f"{stored} events, {EventResource.objects.count()} resource rows"


def run_related(run, pool) -> list[dict]:
    related = [{"prefect.resource.id": f"prefect.flow.{run['flow_id']}", "prefect.resource.role": "flow",
                "prefect.resource.name": run["flow__name"]}]
    if run["deployment_id"]:
        related.append({"prefect.resource.id": f"prefect.deployment.{run['deployment_id']}",
                        "prefect.resource.role": "deployment"})
    if pool:
        related.append({"prefect.resource.id": f"prefect.work-pool.{pool[0]}", "prefect.resource.role": "work-pool",
                        "prefect.resource.name": pool[1]})
    related += [{"prefect.resource.id": f"prefect.tag.{tag}", "prefect.resource.role": "tag"} for tag in run["tags"]]
    return related


def run_events(run, pool) -> list[dict]:
    """A run's state-change events and one task-run event that points back at it."""
    steps = [("PENDING", "Pending", run["expected_start_time"])]
    if run["start_time"]:
        steps.append(("RUNNING", "Running", run["start_time"]))
    if run["end_time"]:
        steps.append((run["state_type"], run["state_name"], run["end_time"]))
    resource = {"prefect.resource.id": f"prefect.flow-run.{run['id']}", "prefect.resource.name": run["name"],
                "prefect.state-type": run["state_type"]}
    related = run_related(run, pool)
    events, previous = [], None
    for state_type, state_name, occurred in steps:
        events.append({
            "id": str(uuid.uuid4()), "occurred": occurred.isoformat(), "event": f"prefect.flow-run.{state_name}",
            "resource": resource, "related": related, "follows": events[-1]["id"] if events else None,
            "payload": {"intended": {"from": previous, "to": state_type},
                        "validated_state": {"type": state_type, "name": state_name, "message": ""}},
        })
        previous = state_type
    if run["start_time"]:
        events.append(task_run_event(run, f"task-0-{uuid.uuid4().hex[:6]}", run["start_time"] + timedelta(seconds=4)))
    return events


def task_run_event(run, name, occurred) -> dict:
    return {
        "id": str(uuid.uuid4()), "occurred": occurred.isoformat(), "event": "prefect.task-run.Completed",
        "resource": {"prefect.resource.id": f"prefect.task-run.{uuid.uuid4()}", "prefect.resource.name": name,
                     "prefect.state-type": "COMPLETED"},
        "related": [{"prefect.resource.id": f"prefect.flow-run.{run['id']}", "prefect.resource.role": "flow-run",
                     "prefect.resource.name": run["name"]},
                    {"prefect.resource.id": f"prefect.flow.{run['flow_id']}", "prefect.resource.role": "flow",
                     "prefect.resource.name": run["flow__name"]}],
        "payload": {"intended": {"from": "RUNNING", "to": "COMPLETED"},
                    "validated_state": {"type": "COMPLETED", "name": "Completed", "message": ""}},
    }


def big_run_events(run, task_count) -> list[dict]:
    events = run_events(run, None)[:-1]
    events += [task_run_event(run, f"big-task-{index}", run["start_time"] + timedelta(seconds=index % 600 + 3))
               for index in range(task_count)]
    return events


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
    from runs.models import Artifact, ArtifactCollection, BlockDocument, Deployment, Flow, FlowRun, Log, WorkPool

    big = FlowRun.objects.filter(name="bench-big-run").order_by("-created").first()
    typical = FlowRun.objects.filter(state_type="COMPLETED").exclude(id=big.id).order_by("-expected_start_time").first()
    active = FlowRun.objects.filter(state_type="RUNNING").order_by("-expected_start_time").first() or typical
    flow = Flow.objects.filter(name__startswith="bench-flow-").order_by("name").first()
    middle = Log.objects.filter(flow_run_id=big.id).order_by("timestamp", "id")[args.big_run_logs // 2]
    cursor = LogCursor(middle.timestamp, middle.id).token()
    # A scheduled deployment on a work queue (upcoming and past runs), a busy pool, a nested block.
    deployment = Deployment.objects.filter(name="bench-deployment-0001").first()
    pool = WorkPool.objects.filter(name="bench-pool-01").first()
    block = BlockDocument.objects.filter(block_type__slug="bench-00").order_by("name").first()
    collection = ArtifactCollection.objects.filter(type="table").order_by("key").first()
    artifact = Artifact.objects.filter(type="table").order_by("-created").first()
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
        ("deployments", "/deployments/", {}),
        ("deployments: search", "/deployments/?q=deployment-01", {}),
        ("deployments table refresh", "/deployments/", htmx("deployment-table")),
        ("deployment page", f"/deployments/deployment/{deployment.id}", {}),
        ("deployment runs refresh", f"/deployments/deployment/{deployment.id}", htmx("deployment-runs")),
        ("work pools", "/work-pools/", {}),
        ("work pools table refresh", "/work-pools/", htmx("work-pool-table")),
        ("work pool page", f"/work-pools/work-pool/{pool.name}", {}),
        ("work pool refresh", f"/work-pools/work-pool/{pool.name}", htmx("work-pool-detail")),
        ("blocks", "/blocks/", {}),
        ("blocks: one type", "/blocks/?type=bench-03", {}),
        ("block page (nested)", f"/blocks/{block.id}/", {}),
        ("block form (new)", "/blocks/new/bench-00/", {}),
        ("variables", "/variables/", {}),
        ("variables: search", "/variables/?q=bench_001", {}),
        ("variables: page 30", "/variables/?page=30", {}),
        ("artifacts", "/artifacts/", {}),
        ("artifacts: search + type", "/artifacts/?q=report-01&type=table", {}),
        ("artifacts: page 15", "/artifacts/?page=15", {}),
        ("artifact key (table)", f"/artifacts/key/{collection.key}/", {}),
        ("artifact (table)", f"/artifacts/{artifact.id}/", {}),
        ("concurrency", "/concurrency/", {}),
        ("concurrency table refresh", "/concurrency/", htmx("concurrency-table")),
        ("notifications", "/notifications/", {}),
        *event_pages(big, htmx),
    ]
    return pages


def event_pages(big, htmx) -> list[tuple[str, str, dict]]:
    from runs.models import Event

    run_event = Event.objects.filter(event="prefect.flow-run.Running").exclude(
        resource_id=f"prefect.flow-run.{big.id}").order_by("-occurred").first()
    if run_event is None:
        return []
    one_run = quote(run_event.resource_id)
    detail = Event.objects.filter(event="prefect.flow-run.Completed").order_by("-occurred").first()
    return [
        ("events (day)", "/events/", {}),
        ("events (hour)", "/events/?window=hour", {}),
        ("events (week)", "/events/?window=week", {}),
        ("events: any time", "/events/?window=all", {}),
        ("events: name prefix, week", "/events/?event=prefect.task-run.&window=week", {}),
        ("events: rare name, any time", "/events/?event=prefect.work-pool.&window=all", {}),
        ("events: one flow run", f"/events/?resource={one_run}", {}),
        ("events: big run (its task events)", f"/events/?resource={quote(f'prefect.flow-run.{big.id}')}", {}),
        ("events: one flow run + name, day", f"/events/?resource={one_run}&event=prefect.flow-run.&window=day", {}),
        ("events: week, page 20", "/events/?window=week&page=20", {}),
        ("events list refresh", "/events/", htmx("event-list")),
        ("event page", f"/events/{detail.id}/", {}),
    ]


# Pages being built while this bench grows: reported as missing, not as a failure, while they answer 404.
OPTIONAL_PATHS = {"/notifications/"}


def measure(pages, repeat: int) -> int:
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from runs.models import FlowRun, Log

    client = Client()
    print(f"{FlowRun.objects.count()} flow runs, {Log.objects.count()} log lines, {connection.vendor}")
    print("load average before: {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))
    print(f"{'page':42} {'median ms':>10} {'max ms':>8} {'queries':>8}")
    slow = []
    missing = []
    for label, path, headers in pages:
        if client.get(path, **headers).status_code == 404 and path in OPTIONAL_PATHS:  # also warms caches
            print(f"{label:42} {'not there (404)':>28}")
            missing.append(label)
            continue
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
    print("load average after: {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))
    print(f"over {TARGET_MS} ms (median): {', '.join(slow) if slow else 'none'}")
    if missing:
        print(f"not measured (404): {', '.join(missing)}")
    return 1 if slow else 0


if __name__ == "__main__":
    raise SystemExit(main())

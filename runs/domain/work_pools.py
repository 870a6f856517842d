"""Work pools, their queues and workers: the records a worker process needs to find work.

A pool's status says whether any worker is serving it (READY), none is (NOT_READY), or it is
PAUSED. A queue's status says whether a worker polled it recently. Workers report liveness by
heartbeat; the foreman (runs/services/foreman.py) marks stale workers, queues and deployments.
"""

from __future__ import annotations

import re
import uuid
from datetime import datetime

from django.db import IntegrityError, transaction
from django.db.models import Count, F, Max, Q
from django.utils import timezone

from runs.models import Deployment, FlowRun, ReadyStatus, WorkPool, WorkQueue, Worker

from . import filters
from .events import record_events
from .errors import AlreadyExists, Conflict, InvalidInput, NotFound

DEFAULT_QUEUE_NAME = "default"
# Pools the old agent-style /work_queues/ endpoints create their queues in.
DEFAULT_AGENT_POOL_NAME = "default-agent-pool"
# Runs in these states hold a pool or queue concurrency slot.
ACTIVE_STATE_TYPES = ("PENDING", "RUNNING", "CANCELLING")
WORKER_ONLINE = "ONLINE"
WORKER_OFFLINE = "OFFLINE"
FORBIDDEN_NAME_CHARACTERS = re.compile(r"[/%&><]")
TEMPLATE_PLACEHOLDER = re.compile(r"\{\{\s*([\w.-]+)\s*\}\}")


# Filters ------------------------------------------------------------------------------------------


class AnyFilter(filters.FilterModel):
    any_: list[str] | None = None


class WorkPoolFilter(filters.OperatorFilter):
    id: filters.IdFilter | None = None
    name: AnyFilter | None = None
    type: AnyFilter | None = None

    def to_q(self, prefix: str = "") -> Q:
        return filters.combine([
            self.id.to_q(prefix) if self.id else filters.ALL,
            filters.when(self.name and self.name.any_ is not None, Q(**{f"{prefix}name__in": (self.name.any_ if self.name else None) or []})),
            filters.when(self.type and self.type.any_ is not None, Q(**{f"{prefix}type__in": (self.type.any_ if self.type else None) or []})),
        ], self.operator)


class WorkQueueNameFilter(filters.FilterModel):
    any_: list[str] | None = None
    startswith_: list[str] | None = None


class WorkQueueFilter(filters.OperatorFilter):
    id: filters.IdFilter | None = None
    name: WorkQueueNameFilter | None = None

    def to_q(self, prefix: str = "") -> Q:
        clauses = [self.id.to_q(prefix) if self.id else filters.ALL]
        if self.name:
            clauses.append(filters.when(self.name.any_ is not None, Q(**{f"{prefix}name__in": self.name.any_ or []})))
            if self.name.startswith_:
                clauses.append(filters.combine(
                    [Q(**{f"{prefix}name__istartswith": start}) for start in self.name.startswith_], "or_"
                ))
        return filters.combine(clauses, self.operator)


class WorkerStatusFilter(filters.FilterModel):
    any_: list[str] | None = None
    not_any_: list[str] | None = None


class WorkerFilter(filters.OperatorFilter):
    last_heartbeat_time: filters.TimeFilter | None = None
    status: WorkerStatusFilter | None = None

    def to_q(self, prefix: str = "") -> Q:
        clauses = [
            self.last_heartbeat_time.to_q(prefix, "last_heartbeat_time") if self.last_heartbeat_time else filters.ALL,
        ]
        if self.status:
            clauses.append(filters.when(self.status.any_ is not None, Q(**{f"{prefix}status__in": self.status.any_ or []})))
            clauses.append(filters.when(self.status.not_any_, ~Q(**{f"{prefix}status__in": self.status.not_any_ or []})))
        return filters.combine(clauses, self.operator)


# Validation ---------------------------------------------------------------------------------------


def is_reserved_pool_name(name: str) -> bool:
    """Names starting with "prefect" belong to the platform; users may not create or delete them."""
    return name.lower().startswith("prefect")


def check_name(name: str, what: str) -> None:
    if not name or not name.strip():
        raise InvalidInput(f"The {what} name must not be empty.")
    if FORBIDDEN_NAME_CHARACTERS.search(name):
        raise InvalidInput(f"The {what} name must not contain any of / % & > <.")


def check_base_job_template(template: dict) -> None:
    """An empty template is allowed; otherwise it needs job_configuration and variables, and every
    {{ placeholder }} in the job configuration must name a declared variable."""
    if not template:
        return
    missing = [key for key in ("job_configuration", "variables") if key not in template]
    if missing:
        raise InvalidInput(f"The base job template is missing: {', '.join(missing)}.")
    if not isinstance(template["job_configuration"], dict) or not isinstance(template["variables"], dict):
        raise InvalidInput("The base job template's job_configuration and variables must be objects.")
    declared = set((template["variables"].get("properties") or {}).keys())
    used = set(TEMPLATE_PLACEHOLDER.findall(_template_text(template["job_configuration"])))
    undeclared = sorted(name for name in used if name.split(".")[0] not in declared and not name.startswith("prefect"))
    if undeclared:
        raise InvalidInput(
            f"The job configuration uses variables that are not declared: {', '.join(undeclared)}."
        )


def _template_text(value) -> str:
    if isinstance(value, dict):
        return " ".join(_template_text(item) for item in value.values())
    if isinstance(value, list):
        return " ".join(_template_text(item) for item in value)
    return value if isinstance(value, str) else ""


def check_concurrency_limit(limit: int | None) -> None:
    if limit is not None and limit < 0:
        raise InvalidInput("A concurrency limit must be 0 or more.")


# Status events ------------------------------------------------------------------------------------
# A status change is announced as `prefect.work-pool.ready`, `prefect.work-queue.not-ready`,
# `prefect.deployment.ready`... so automations and /events/out subscribers can react to it.


def status_event_name(kind: str, status: str) -> str:
    return f"prefect.{kind}.{status.lower().replace('_', '-')}"


def pool_status_event(pool, status: str) -> dict:
    return {
        "id": str(uuid.uuid4()), "occurred": timezone.now().isoformat(), "event": status_event_name("work-pool", status),
        "resource": {"prefect.resource.id": f"prefect.work-pool.{pool.id}", "prefect.resource.name": pool.name,
                     "prefect.work-pool.type": pool.type},
        "related": [], "payload": {},
    }


def queue_status_event(queue, pool, status: str) -> dict:
    related = [] if pool is None else [{
        "prefect.resource.id": f"prefect.work-pool.{pool.id}", "prefect.resource.name": pool.name,
        "prefect.work-pool.type": pool.type, "prefect.resource.role": "work-pool",
    }]
    return {
        "id": str(uuid.uuid4()), "occurred": timezone.now().isoformat(), "event": status_event_name("work-queue", status),
        "resource": {"prefect.resource.id": f"prefect.work-queue.{queue.id}", "prefect.resource.name": queue.name,
                     "prefect.resource.role": "work-queue"},
        "related": related, "payload": {},
    }


def deployment_status_event(deployment_id, name: str, status: str) -> dict:
    return {
        "id": str(uuid.uuid4()), "occurred": timezone.now().isoformat(), "event": status_event_name("deployment", status),
        "resource": {"prefect.resource.id": f"prefect.deployment.{deployment_id}", "prefect.resource.name": name},
        "related": [], "payload": {},
    }


def announce(events: list[dict]) -> None:
    if events:
        record_events(events)


def set_queue_statuses(queryset, status: str) -> int:
    """Move the matching queues to `status` and announce each one that changed."""
    changed = list(queryset.exclude(status=status).select_related("work_pool"))
    if not changed:
        return 0
    WorkQueue.objects.filter(id__in=[queue.id for queue in changed]).update(status=status)
    announce([queue_status_event(queue, queue.work_pool, status) for queue in changed])
    return len(changed)


def set_deployment_statuses(queryset, status: str) -> int:
    changed = list(queryset.exclude(status=status).values_list("id", "name"))
    if not changed:
        return 0
    Deployment.objects.filter(id__in=[row[0] for row in changed]).update(status=status)
    announce([deployment_status_event(deployment_id, name, status) for deployment_id, name in changed])
    return len(changed)


def set_pool_statuses(queryset, status: str) -> int:
    changed = list(queryset.exclude(status=status))
    if not changed:
        return 0
    WorkPool.objects.filter(id__in=[pool.id for pool in changed]).update(status=status)
    announce([pool_status_event(pool, status) for pool in changed])
    return len(changed)


# Pools --------------------------------------------------------------------------------------------


def create_work_pool(
    *,
    name: str,
    type: str = "prefect-agent",
    description: str | None = None,
    base_job_template: dict | None = None,
    is_paused: bool = False,
    concurrency_limit: int | None = None,
    storage_configuration: dict | None = None,
) -> WorkPool:
    """A new pool with its default queue; AlreadyExists if the name is taken."""
    check_name(name, "work pool")
    check_base_job_template(base_job_template or {})
    check_concurrency_limit(concurrency_limit)
    try:
        with transaction.atomic():
            pool = WorkPool.objects.create(
                name=name,
                type=type,
                description=description,
                base_job_template=base_job_template or {},
                is_paused=is_paused,
                concurrency_limit=concurrency_limit,
                storage_configuration=storage_configuration or {},
                status=ReadyStatus.PAUSED if is_paused else ReadyStatus.NOT_READY,
            )
            queue = WorkQueue.objects.create(
                work_pool=pool, name=DEFAULT_QUEUE_NAME, priority=1,
                status=ReadyStatus.PAUSED if is_paused else ReadyStatus.NOT_READY,
            )
            pool.default_queue = queue
            pool.save(update_fields=["default_queue"])
            announce([pool_status_event(pool, pool.status)])
    except IntegrityError:
        raise AlreadyExists("A work pool with this name already exists.") from None
    return pool


def read_work_pool(*, name: str) -> WorkPool:
    pool = WorkPool.objects.filter(name=name).first()
    if pool is None:
        raise NotFound(f'Work pool "{name}" not found.')
    return pool


def read_work_pool_by_id(*, work_pool_id) -> WorkPool:
    pool = WorkPool.objects.filter(id=work_pool_id).first()
    if pool is None:
        raise NotFound("Work pool not found.")
    return pool


def read_work_pools(*, work_pools: WorkPoolFilter | None = None, window: slice | None = None) -> list[WorkPool]:
    queryset = WorkPool.objects.filter(work_pools.to_q() if work_pools else Q()).order_by("name")
    return list(queryset[window] if window else queryset)


def count_work_pools(*, work_pools: WorkPoolFilter | None = None) -> int:
    return WorkPool.objects.filter(work_pools.to_q() if work_pools else Q()).count()


POOL_UPDATABLE_FIELDS = ("description", "is_paused", "base_job_template", "concurrency_limit", "storage_configuration")


def update_work_pool(*, name: str, **changes) -> WorkPool:
    """Change the given fields (keys absent mean "leave as is"; a None concurrency_limit removes it)."""
    unknown = set(changes) - set(POOL_UPDATABLE_FIELDS)
    if unknown:
        raise InvalidInput(f"Cannot update {', '.join(sorted(unknown))}.")
    if changes.get("base_job_template") is not None:
        check_base_job_template(changes["base_job_template"])
    check_concurrency_limit(changes.get("concurrency_limit"))
    for key in ("is_paused", "base_job_template", "storage_configuration"):
        if key in changes and changes[key] is None:
            del changes[key]  # null for a non-nullable field means "not provided"
    with transaction.atomic():
        pool = WorkPool.objects.select_for_update().filter(name=name).first()
        if pool is None:
            raise NotFound(f'Work pool "{name}" not found.')
        for key, value in changes.items():
            setattr(pool, key, value)
        previous_status = pool.status
        if "is_paused" in changes:
            pool.status = pool_status(pool)
        pool.save()
        if pool.status != previous_status:
            announce([pool_status_event(pool, pool.status)])
    return pool


def delete_work_pool(*, name: str) -> None:
    with transaction.atomic():
        pool = read_work_pool(name=name)
        # Deployments keep their runs; they just stop pointing at the pool's queues.
        Deployment.objects.filter(work_queue__work_pool=pool).update(work_queue=None, status=ReadyStatus.NOT_READY)
        pool.delete()


def pool_status(pool: WorkPool) -> str:
    """PAUSED if paused, READY when an online worker serves it, NOT_READY otherwise."""
    if pool.is_paused:
        return ReadyStatus.PAUSED
    if Worker.objects.filter(work_pool=pool, status=WORKER_ONLINE).exists():
        return ReadyStatus.READY
    return ReadyStatus.NOT_READY


def active_slots_by_pool(pools: list[WorkPool]) -> dict:
    """Runs holding a slot (Pending, Running, Cancelling), per pool id, for pools that have a limit."""
    limited = [pool for pool in pools if pool.concurrency_limit is not None]
    if not limited:
        return {}
    queue_pool = dict(WorkQueue.objects.filter(work_pool__in=limited).values_list("id", "work_pool_id"))
    counts = dict.fromkeys((pool.id for pool in limited), 0)
    rows = (
        FlowRun.objects.filter(work_queue_id__in=list(queue_pool), state_type__in=ACTIVE_STATE_TYPES)
        .values("work_queue_id").annotate(n=Count("id"))
    )
    for row in rows:
        counts[queue_pool[row["work_queue_id"]]] += row["n"]
    return counts


def active_slots_by_queue(queues: list[WorkQueue]) -> dict:
    limited = [queue.id for queue in queues if queue.concurrency_limit is not None]
    if not limited:
        return {}
    counts = dict.fromkeys(limited, 0)
    rows = (
        FlowRun.objects.filter(work_queue_id__in=limited, state_type__in=ACTIVE_STATE_TYPES)
        .values("work_queue_id").annotate(n=Count("id"))
    )
    counts.update({row["work_queue_id"]: row["n"] for row in rows})
    return counts


# Queues -------------------------------------------------------------------------------------------


def create_work_queue(
    *,
    work_pool_name: str,
    name: str,
    description: str | None = None,
    is_paused: bool = False,
    concurrency_limit: int | None = None,
    priority: int | None = None,
    filter: dict | None = None,
) -> WorkQueue:
    """A new queue in the pool. Without a priority it goes last; with one, queues at that priority
    or below move down one, so priorities stay distinct."""
    check_name(name, "work queue")
    check_concurrency_limit(concurrency_limit)
    if priority is not None and priority < 1:
        raise InvalidInput("A work queue priority must be 1 or more.")
    try:
        with transaction.atomic():
            pool = WorkPool.objects.select_for_update().filter(name=work_pool_name).first()
            if pool is None:
                raise NotFound(f'Work pool "{work_pool_name}" not found.')
            if priority is None:
                priority = (pool.queues.aggregate(top=Max("priority"))["top"] or 0) + 1
            else:
                pool.queues.filter(priority__gte=priority).update(priority=F("priority") + 1)
            return WorkQueue.objects.create(
                work_pool=pool, name=name, description=description, is_paused=is_paused,
                concurrency_limit=concurrency_limit, priority=priority, filter=filter,
                status=ReadyStatus.PAUSED if is_paused else ReadyStatus.NOT_READY,
            )
    except IntegrityError:
        raise AlreadyExists("A work queue with this name already exists in the pool.") from None


def read_work_queue(*, work_pool_name: str, name: str) -> WorkQueue:
    queue = WorkQueue.objects.select_related("work_pool").filter(work_pool__name=work_pool_name, name=name).first()
    if queue is None:
        if not WorkPool.objects.filter(name=work_pool_name).exists():
            raise NotFound(f'Work pool "{work_pool_name}" not found.')
        raise NotFound(f'Work queue "{name}" not found in work pool "{work_pool_name}".')
    return queue


def read_work_queue_by_id(*, work_queue_id) -> WorkQueue:
    queue = WorkQueue.objects.select_related("work_pool").filter(id=work_queue_id).first()
    if queue is None:
        raise NotFound("Work queue not found.")
    return queue


def read_work_queues(
    *, work_pool_name: str | None = None, work_queues: WorkQueueFilter | None = None, window: slice | None = None
) -> list[WorkQueue]:
    queryset = WorkQueue.objects.select_related("work_pool")
    if work_pool_name is not None:
        read_work_pool(name=work_pool_name)
        queryset = queryset.filter(work_pool__name=work_pool_name)
    queryset = queryset.filter(work_queues.to_q() if work_queues else Q()).order_by("work_pool__name", "priority", "name")
    return list(queryset[window] if window else queryset)


QUEUE_UPDATABLE_FIELDS = ("name", "description", "is_paused", "concurrency_limit", "priority", "last_polled", "filter")


def update_work_queue(*, queue: WorkQueue, **changes) -> WorkQueue:
    """Change the given fields of a queue; a new priority moves the queues in between."""
    unknown = set(changes) - set(QUEUE_UPDATABLE_FIELDS)
    if unknown:
        raise InvalidInput(f"Cannot update {', '.join(sorted(unknown))}.")
    for key in ("name", "is_paused", "priority"):
        if key in changes and changes[key] is None:
            del changes[key]
    if "name" in changes:
        check_name(changes["name"], "work queue")
    check_concurrency_limit(changes.get("concurrency_limit"))
    if changes.get("priority") is not None and changes["priority"] < 1:
        raise InvalidInput("A work queue priority must be 1 or more.")
    try:
        with transaction.atomic():
            queue = WorkQueue.objects.select_for_update().get(id=queue.id)
            new_priority = changes.get("priority")
            if new_priority is not None and new_priority != queue.priority:
                siblings = WorkQueue.objects.filter(work_pool_id=queue.work_pool_id).exclude(id=queue.id)
                if new_priority < queue.priority:
                    siblings.filter(priority__gte=new_priority, priority__lt=queue.priority).update(priority=F("priority") + 1)
                else:
                    siblings.filter(priority__gt=queue.priority, priority__lte=new_priority).update(priority=F("priority") - 1)
            for key, value in changes.items():
                setattr(queue, key, value)
            previous_status = queue.status
            if "is_paused" in changes:
                queue.status = ReadyStatus.PAUSED if queue.is_paused else (
                    ReadyStatus.READY if _recently_polled(queue) else ReadyStatus.NOT_READY
                )
            queue.save()
            if queue.status != previous_status:
                announce([queue_status_event(queue, WorkPool.objects.get(id=queue.work_pool_id), queue.status)])
    except IntegrityError:
        raise AlreadyExists("A work queue with this name already exists in the pool.") from None
    return WorkQueue.objects.select_related("work_pool").get(id=queue.id)


def delete_work_queue(*, queue: WorkQueue) -> None:
    with transaction.atomic():
        pool = WorkPool.objects.select_for_update().get(id=queue.work_pool_id)
        if pool.default_queue_id == queue.id:
            raise Conflict("A work pool's default queue cannot be deleted.")
        Deployment.objects.filter(work_queue=queue).update(work_queue=None)
        WorkQueue.objects.filter(id=queue.id).delete()
        # Close the gap so the remaining priorities stay 1..n in order.
        WorkQueue.objects.filter(work_pool=pool, priority__gt=queue.priority).update(priority=F("priority") - 1)


def _recently_polled(queue: WorkQueue) -> bool:
    from runs.services.foreman import queue_poll_timeout

    return bool(queue.last_polled and timezone.now() - queue.last_polled <= queue_poll_timeout())


def ensure_default_queue(pool: WorkPool) -> WorkQueue:
    """Every pool has a default queue; create it on first need."""
    if pool.default_queue_id:
        queue = WorkQueue.objects.filter(id=pool.default_queue_id).first()
        if queue:
            return queue
    queue, _ = WorkQueue.objects.get_or_create(work_pool=pool, name=DEFAULT_QUEUE_NAME)
    WorkPool.objects.filter(id=pool.id).update(default_queue=queue)
    pool.default_queue = queue
    return queue


def resolve_work_queue(*, work_pool_name: str | None, work_queue_name: str | None) -> WorkQueue | None:
    """The queue a deployment or run names: the pool's queue of that name (created if new), or
    the pool's default queue. Without a pool name there is no queue."""
    if not work_pool_name:
        return None
    pool = WorkPool.objects.filter(name=work_pool_name).first()
    if pool is None:
        raise NotFound(f'Work pool "{work_pool_name}" not found.')
    if not work_queue_name:
        return ensure_default_queue(pool)
    queue = WorkQueue.objects.filter(work_pool=pool, name=work_queue_name).first()
    if queue is not None:
        return queue
    try:
        return create_work_queue(work_pool_name=work_pool_name, name=work_queue_name)
    except AlreadyExists:  # created concurrently
        return WorkQueue.objects.get(work_pool=pool, name=work_queue_name)


def default_agent_pool() -> WorkPool:
    """The pool behind the pool-less /work_queues/ endpoints, created on first use."""
    pool = WorkPool.objects.filter(name=DEFAULT_AGENT_POOL_NAME).first()
    if pool is not None:
        return pool
    try:
        return create_work_pool(name=DEFAULT_AGENT_POOL_NAME, type="prefect-agent")
    except AlreadyExists:
        return WorkPool.objects.get(name=DEFAULT_AGENT_POOL_NAME)


# Workers ------------------------------------------------------------------------------------------


def record_worker_heartbeat(
    *, work_pool_name: str, worker_name: str, heartbeat_interval_seconds: int | None = None,
    create_pool_type: str | None = None, default_base_job_template: dict | None = None,
) -> tuple[WorkPool, Worker]:
    """Mark the worker online now and its pool READY (unless paused). With `create_pool_type`, a
    missing pool is created for the worker, as a worker started with a new pool name expects."""
    if not worker_name or not worker_name.strip():
        raise InvalidInput("The worker name must not be empty.")
    pool = WorkPool.objects.filter(name=work_pool_name).first()
    if pool is None:
        if create_pool_type is None or is_reserved_pool_name(work_pool_name):
            raise NotFound(f'Work pool "{work_pool_name}" not found.')
        try:
            pool = create_work_pool(
                name=work_pool_name, type=create_pool_type, base_job_template=default_base_job_template or {}
            )
        except AlreadyExists:
            pool = WorkPool.objects.get(name=work_pool_name)
    elif default_base_job_template and not pool.base_job_template:
        # A pool created without a template adopts the one its first worker brings.
        check_base_job_template(default_base_job_template)
        pool.base_job_template = default_base_job_template
        pool.save(update_fields=["base_job_template", "updated"])
    now = timezone.now()
    with transaction.atomic():
        updated = Worker.objects.filter(work_pool=pool, name=worker_name).update(
            last_heartbeat_time=now, heartbeat_interval_seconds=heartbeat_interval_seconds,
            status=WORKER_ONLINE, updated=now,
        )
        if not updated:
            try:
                with transaction.atomic():
                    Worker.objects.create(
                        work_pool=pool, name=worker_name, last_heartbeat_time=now,
                        heartbeat_interval_seconds=heartbeat_interval_seconds, status=WORKER_ONLINE,
                    )
            except IntegrityError:  # the same worker's previous heartbeat raced us
                Worker.objects.filter(work_pool=pool, name=worker_name).update(
                    last_heartbeat_time=now, heartbeat_interval_seconds=heartbeat_interval_seconds,
                    status=WORKER_ONLINE, updated=now,
                )
        if not pool.is_paused and pool.status != ReadyStatus.READY:
            set_pool_statuses(WorkPool.objects.filter(id=pool.id, is_paused=False), ReadyStatus.READY)
            pool.status = ReadyStatus.READY
    return pool, Worker.objects.get(work_pool=pool, name=worker_name)


def read_workers(
    *, work_pool_name: str, workers: WorkerFilter | None = None, window: slice | None = None
) -> list[Worker]:
    pool = read_work_pool(name=work_pool_name)
    queryset = Worker.objects.filter(work_pool=pool).filter(workers.to_q() if workers else Q())
    queryset = queryset.order_by(F("last_heartbeat_time").desc(nulls_last=True), "name")
    return list(queryset[window] if window else queryset)


def delete_worker(*, work_pool_name: str, worker_name: str) -> None:
    pool = read_work_pool(name=work_pool_name)
    deleted, _ = Worker.objects.filter(work_pool=pool, name=worker_name).delete()
    if not deleted:
        raise NotFound("Worker not found.")


# Picking up work ----------------------------------------------------------------------------------


def get_scheduled_flow_runs(
    *,
    work_pool_name: str,
    work_queue_names: list[str] | None = None,
    scheduled_before: datetime | None = None,
    scheduled_after: datetime | None = None,
    limit: int | None = None,
) -> list[tuple[WorkPool, WorkQueue, FlowRun]]:
    """Scheduled runs a worker of this pool may start: in the named queues (all when none are
    named) that are not paused, due by `scheduled_before`, highest-priority queue first, then
    earliest; never more than the pool's and each queue's free concurrency slots.

    Polling marks the queues and their deployments READY and records when they were polled.
    """
    pool = read_work_pool(name=work_pool_name)
    if work_queue_names:
        queues = []
        for name in dict.fromkeys(work_queue_names):
            queues.append(read_work_queue(work_pool_name=work_pool_name, name=name))
    else:
        queues = list(WorkQueue.objects.filter(work_pool=pool).order_by("priority", "name"))
    mark_polled(queues)
    if pool.is_paused:
        return []
    open_queues = [queue for queue in queues if not queue.is_paused]
    if not open_queues:
        return []

    pool_room = None
    if pool.concurrency_limit is not None:
        pool_room = pool.concurrency_limit - active_slots_by_pool([pool]).get(pool.id, 0)
        if pool_room <= 0:
            return []
    queue_active = active_slots_by_queue(open_queues)

    due = Q(state_type="SCHEDULED")
    if scheduled_before is not None:
        due &= Q(next_scheduled_start_time__lte=scheduled_before)
    if scheduled_after is not None:
        due &= Q(next_scheduled_start_time__gte=scheduled_after)
    wanted = limit if limit is not None else None
    picked: list[tuple[WorkPool, WorkQueue, FlowRun]] = []
    for queue in sorted(open_queues, key=lambda q: (q.priority, q.name)):
        room = None if queue.concurrency_limit is None else queue.concurrency_limit - queue_active.get(queue.id, 0)
        caps = [cap for cap in (room, pool_room, None if wanted is None else wanted - len(picked)) if cap is not None]
        cap = min(caps) if caps else None
        if cap is not None and cap <= 0:
            continue
        runs = FlowRun.objects.select_related("state").filter(due, work_queue_id=queue.id).order_by(
            "next_scheduled_start_time", "id"
        )
        runs = list(runs[:cap] if cap is not None else runs)
        picked.extend((pool, queue, run) for run in runs)
        if pool_room is not None:
            pool_room -= len(runs)
        if wanted is not None and len(picked) >= wanted:
            break
    return picked


def mark_polled(queues: list[WorkQueue]) -> None:
    """A poll makes the queues (unless paused) and their deployments READY."""
    if not queues:
        return
    now = timezone.now()
    ids = [queue.id for queue in queues]
    WorkQueue.objects.filter(id__in=ids).update(last_polled=now)
    set_queue_statuses(WorkQueue.objects.filter(id__in=ids, is_paused=False), ReadyStatus.READY)
    Deployment.objects.filter(work_queue_id__in=ids).update(last_polled=now)
    set_deployment_statuses(Deployment.objects.filter(work_queue_id__in=ids), ReadyStatus.READY)
    for queue in queues:
        queue.last_polled = now
        if not queue.is_paused:
            queue.status = ReadyStatus.READY


def late_runs_by_queue(queue_ids: list) -> dict:
    """How many Late runs wait in each queue."""
    rows = (
        FlowRun.objects.filter(work_queue_id__in=queue_ids, state_type="SCHEDULED", state_name="Late")
        .values("work_queue_id").annotate(n=Count("id"))
    )
    return {row["work_queue_id"]: row["n"] for row in rows}


# Concurrency status -------------------------------------------------------------------------------


def slot_summary(run, now) -> dict:
    return {
        "id": run.id, "name": run.name, "state_type": run.state_type, "state_name": run.state_name,
        "start_time": run.start_time, "state_timestamp": run.state_timestamp,
        "time_in_current_state": (now - run.state_timestamp).total_seconds() if run.state_timestamp else None,
    }


def slot_holders(queue_ids: list) -> dict:
    """Runs holding a slot (Pending, Running, Cancelling) per queue id, longest-held first."""
    runs = (
        FlowRun.objects.filter(work_queue_id__in=queue_ids, state_type__in=ACTIVE_STATE_TYPES)
        .only("id", "name", "state_type", "state_name", "start_time", "state_timestamp", "work_queue_id")
        .order_by("state_timestamp", "id")
    )
    holders: dict = {}
    for run in runs:
        holders.setdefault(run.work_queue_id, []).append(run)
    return holders


def read_work_pool_concurrency_status(*, work_pool_name: str, page: int, limit: int, flow_run_limit: int) -> dict:
    """Slots in use in the pool and, for one page of its queues, in each queue with the runs holding them."""
    pool = read_work_pool(name=work_pool_name)
    all_queues = list(WorkQueue.objects.filter(work_pool=pool).order_by("priority", "name"))
    page_queues = all_queues[(page - 1) * limit : page * limit]
    holders = slot_holders([queue.id for queue in page_queues])
    counts = {
        row["work_queue_id"]: row["n"]
        for row in FlowRun.objects.filter(work_queue_id__in=[q.id for q in all_queues], state_type__in=ACTIVE_STATE_TYPES)
        .values("work_queue_id").annotate(n=Count("id"))
    }
    now = timezone.now()
    return {
        "active_slots": sum(counts.values()),
        "concurrency_limit": pool.concurrency_limit,
        "queues": [
            {
                "queue_id": queue.id, "queue_name": queue.name, "active_slots": counts.get(queue.id, 0),
                "concurrency_limit": queue.concurrency_limit,
                "flow_runs": [slot_summary(run, now) for run in holders.get(queue.id, [])[:flow_run_limit]],
                "flow_run_count": counts.get(queue.id, 0),
            }
            for queue in page_queues
        ],
        "count": len(all_queues), "limit": limit, "pages": -(-len(all_queues) // limit) if limit else 0, "page": page,
    }


def read_work_queue_concurrency_status(*, work_queue_id, page: int, limit: int) -> dict:
    queue = read_work_queue_by_id(work_queue_id=work_queue_id)
    runs = slot_holders([queue.id]).get(queue.id, [])
    now = timezone.now()
    return {
        "active_slots": len(runs), "concurrency_limit": queue.concurrency_limit,
        "flow_runs": [slot_summary(run, now) for run in runs[(page - 1) * limit : page * limit]],
        "count": len(runs), "limit": limit, "pages": -(-len(runs) // limit) if limit else 0, "page": page,
    }


# Dashboard ----------------------------------------------------------------------------------------

LATE_RUNS_SHOWN = 20


def _late_runs():
    return FlowRun.objects.filter(state_type="SCHEDULED", state_name="Late")


def work_pools_overview() -> list[dict]:
    """Every pool with its queue count, workers online / known, Late runs and slots in use (a fixed
    number of queries, whatever the number of pools)."""
    pools = list(WorkPool.objects.order_by("name"))
    queue_pool = dict(WorkQueue.objects.values_list("id", "work_pool_id"))
    queues = {row["work_pool_id"]: row["n"] for row in WorkQueue.objects.values("work_pool_id").annotate(n=Count("id"))}
    workers = {}
    for row in Worker.objects.values("work_pool_id", "status").annotate(n=Count("id")):
        counts = workers.setdefault(row["work_pool_id"], {"online": 0, "total": 0})
        counts["total"] += row["n"]
        if row["status"] == WORKER_ONLINE:
            counts["online"] += row["n"]
    late = {}
    for queue_id, count in late_runs_by_queue(list(queue_pool)).items():
        late[queue_pool[queue_id]] = late.get(queue_pool[queue_id], 0) + count
    slots = active_slots_by_pool(pools)
    return [
        {
            "pool": pool,
            "queue_count": queues.get(pool.id, 0),
            "workers_online": workers.get(pool.id, {}).get("online", 0),
            "workers_total": workers.get(pool.id, {}).get("total", 0),
            "late_runs": late.get(pool.id, 0),
            "active_slots": slots.get(pool.id),
        }
        for pool in pools
    ]


def work_pool_overview(*, name: str) -> dict:
    """One pool for its dashboard page: queues (with Late runs and slots), workers, and Late runs."""
    pool = read_work_pool(name=name)
    queues = list(WorkQueue.objects.filter(work_pool=pool).order_by("priority", "name"))
    late = late_runs_by_queue([queue.id for queue in queues])
    slots = active_slots_by_queue(queues)
    queue_names = {queue.id: queue.name for queue in queues}
    late_runs = list(
        _late_runs().filter(work_queue_id__in=list(queue_names)).select_related("flow")
        .order_by("expected_start_time")[:LATE_RUNS_SHOWN]
    )
    for run in late_runs:
        run.queue_label = queue_names.get(run.work_queue_id)
    return {
        "pool": pool,
        "active_slots": active_slots_by_pool([pool]).get(pool.id),
        "queues": [{"queue": queue, "late_runs": late.get(queue.id, 0), "active_slots": slots.get(queue.id)} for queue in queues],
        "workers": list(Worker.objects.filter(work_pool=pool).order_by(F("last_heartbeat_time").desc(nulls_last=True), "name")),
        "late_runs": late_runs,
        "late_run_count": sum(late.values()),
    }

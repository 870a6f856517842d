"""Work queues addressed by id, and the pool-less queue endpoints older clients and agents use.

Queues created without a pool live in the "default-agent-pool"; everything else about them is the
same as a pool's queue (runs/domain/work_pools.py holds those rules).
"""

from __future__ import annotations

from datetime import datetime

from django.utils import timezone

from runs.models import FlowRun, WorkQueue

from . import work_pools
from .errors import NotFound

# A queue is healthy while it was polled within this many seconds and has no Late runs.
HEALTH_MAX_SECONDS_SINCE_POLLED = 60
HEALTH_MAX_LATE_RUNS = 0


def create_work_queue(**fields) -> WorkQueue:
    pool = work_pools.default_agent_pool()
    queue = work_pools.create_work_queue(work_pool_name=pool.name, **fields)
    return work_pools.read_work_queue_by_id(work_queue_id=queue.id)


def read_work_queue(*, work_queue_id) -> WorkQueue:
    return work_pools.read_work_queue_by_id(work_queue_id=work_queue_id)


def read_work_queue_by_name(*, name: str) -> WorkQueue:
    """A pool-less lookup by name: the default agent pool's queue of that name."""
    queue = (
        WorkQueue.objects.select_related("work_pool")
        .filter(work_pool__name=work_pools.DEFAULT_AGENT_POOL_NAME, name=name)
        .first()
    )
    if queue is None:
        raise NotFound(f'Work queue "{name}" not found.')
    return queue


def update_work_queue(*, work_queue_id, **changes) -> WorkQueue:
    return work_pools.update_work_queue(queue=read_work_queue(work_queue_id=work_queue_id), **changes)


def delete_work_queue(*, work_queue_id) -> None:
    work_pools.delete_work_queue(queue=read_work_queue(work_queue_id=work_queue_id))


def read_work_queue_status(*, work_queue_id) -> dict:
    """Health as agents and the UI read it: polled recently and no Late runs waiting."""
    queue = read_work_queue(work_queue_id=work_queue_id)
    late = work_pools.late_runs_by_queue([queue.id]).get(queue.id, 0)
    polled_recently = bool(
        queue.last_polled
        and (timezone.now() - queue.last_polled).total_seconds() <= HEALTH_MAX_SECONDS_SINCE_POLLED
    )
    return {
        "healthy": polled_recently and late <= HEALTH_MAX_LATE_RUNS,
        "late_runs_count": late,
        "last_polled": queue.last_polled,
        "health_check_policy": {
            "maximum_late_runs": HEALTH_MAX_LATE_RUNS,
            "maximum_seconds_since_last_polled": HEALTH_MAX_SECONDS_SINCE_POLLED,
        },
    }


def read_work_queue_runs(
    *, work_queue_id, scheduled_before: datetime | None = None, limit: int | None = None, mark_polled: bool = True
) -> list[FlowRun]:
    """The queue's due Scheduled runs, earliest first (empty while the queue or its pool is paused)."""
    queue = read_work_queue(work_queue_id=work_queue_id)
    if mark_polled:
        work_pools.mark_polled([queue])
    if queue.is_paused or queue.work_pool.is_paused:
        return []
    picked = work_pools.get_scheduled_flow_runs(
        work_pool_name=queue.work_pool.name, work_queue_names=[queue.name],
        scheduled_before=scheduled_before, limit=limit,
    )
    return [run for _, _, run in picked]

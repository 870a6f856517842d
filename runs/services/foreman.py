"""The foreman: keeps worker, pool, queue and deployment status current.

Run periodically (a django-q2 schedule, see `register_schedules`). Every change is a conditional
UPDATE, so several server instances may run it at once without harm.

- A worker is OFFLINE once it missed `INACTIVITY_HEARTBEAT_MULTIPLE` heartbeats.
- A pool is READY while it is not paused and has an ONLINE worker, NOT_READY otherwise.
- A queue or deployment is NOT_READY once no worker polled it for the configured timeout.

Each change is announced as a status event (prefect.work-pool.not-ready, ...).
"""

from __future__ import annotations

import logging
import os
from datetime import timedelta

from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

from runs.domain import work_pools
from runs.models import Deployment, ReadyStatus, WorkPool, WorkQueue, Worker

logger = logging.getLogger(__name__)

WORKER_ONLINE, WORKER_OFFLINE = "ONLINE", "OFFLINE"


def setting_seconds(name: str, default: float) -> float:
    """A PREFECT_SERVER_SERVICES_* number from the environment; a bad value falls back to the default."""
    raw = os.environ.get(name)
    try:
        return float(raw) if raw not in (None, "") else default
    except ValueError:
        logger.warning("Ignoring %s=%r: not a number", name, raw)
        return default


def inactivity_heartbeat_multiple() -> float:
    return setting_seconds("PREFECT_SERVER_SERVICES_FOREMAN_INACTIVITY_HEARTBEAT_MULTIPLE", 3)


def fallback_heartbeat_interval() -> float:
    return setting_seconds("PREFECT_SERVER_SERVICES_FOREMAN_FALLBACK_HEARTBEAT_INTERVAL_SECONDS", 30)


def queue_poll_timeout() -> timedelta:
    return timedelta(seconds=setting_seconds("PREFECT_SERVER_SERVICES_FOREMAN_WORK_QUEUE_LAST_POLLED_TIMEOUT_SECONDS", 60))


def deployment_poll_timeout() -> timedelta:
    return timedelta(seconds=setting_seconds("PREFECT_SERVER_SERVICES_FOREMAN_DEPLOYMENT_LAST_POLLED_TIMEOUT_SECONDS", 60))


def mark_offline_workers(now) -> int:
    """Workers whose last heartbeat is older than `multiple` of their own interval (or the fallback)."""
    multiple = inactivity_heartbeat_multiple()
    fallback = fallback_heartbeat_interval()
    stale_ids = []
    online = Worker.objects.filter(status=WORKER_ONLINE).values_list("id", "last_heartbeat_time", "heartbeat_interval_seconds")
    for worker_id, last_heartbeat, interval in online:
        allowed = timedelta(seconds=multiple * (interval or fallback))
        if last_heartbeat is None or now - last_heartbeat > allowed:
            stale_ids.append(worker_id)
    if not stale_ids:
        return 0
    return Worker.objects.filter(id__in=stale_ids, status=WORKER_ONLINE).update(status=WORKER_OFFLINE, updated=now)


def update_pool_statuses() -> tuple[int, int]:
    """Pools follow their workers: READY with an online worker, NOT_READY without; paused stays PAUSED."""
    online = Worker.objects.filter(work_pool=OuterRef("pk"), status=WORKER_ONLINE)
    unpaused = WorkPool.objects.filter(is_paused=False)
    became_not_ready = work_pools.set_pool_statuses(unpaused.filter(~Exists(online)), ReadyStatus.NOT_READY)
    became_ready = work_pools.set_pool_statuses(unpaused.filter(Exists(online)), ReadyStatus.READY)
    work_pools.set_pool_statuses(WorkPool.objects.filter(is_paused=True), ReadyStatus.PAUSED)
    return became_ready, became_not_ready


def mark_unpolled_queues(now) -> int:
    cutoff = now - queue_poll_timeout()
    stale = WorkQueue.objects.filter(status=ReadyStatus.READY, is_paused=False).filter(
        Q(last_polled__isnull=True) | Q(last_polled__lt=cutoff)
    )
    return work_pools.set_queue_statuses(stale, ReadyStatus.NOT_READY)


def mark_unpolled_deployments(now) -> int:
    cutoff = now - deployment_poll_timeout()
    stale = Deployment.objects.filter(status=ReadyStatus.READY).filter(
        Q(last_polled__isnull=True) | Q(last_polled__lt=cutoff)
    )
    return work_pools.set_deployment_statuses(stale, ReadyStatus.NOT_READY)


def run_foreman() -> dict:
    """One pass; returns what changed (the task result django-q2 records)."""
    now = timezone.now()
    offline = mark_offline_workers(now)
    ready, not_ready = update_pool_statuses()
    queues = mark_unpolled_queues(now)
    deployments = mark_unpolled_deployments(now)
    changes = {
        "workers_offline": offline, "pools_ready": ready, "pools_not_ready": not_ready,
        "queues_not_ready": queues, "deployments_not_ready": deployments,
    }
    if any(changes.values()):
        logger.info("Foreman: %s", changes)
    return changes

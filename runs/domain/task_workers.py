"""Background tasks: handing deferred task runs (`task.delay()`) to the task workers that serve them.

A run is waiting for a task worker while its current state is a Scheduled state marked `deferred`.
Every subscription looks for such runs of its task keys in the database and claims one at a time
(a row keyed on the state, taken with an insert or a conditional update), so any server process can
hand out a run scheduled through any other, and two subscribers never get the same state.

A claim is a lease the subscription renews while its socket is open. When the worker leaves, runs it
had not acknowledged are free at once; acknowledged runs that are still Scheduled (the worker left
before starting them) are free after a short grace, which lets the worker's own Pending event land
first. A web process that dies stops renewing, so its claims run out the same way.

The server never reads a run's parameters: the client keeps them in its result storage and passes
their id in the state's `task_parameters_id`, which is delivered untouched.
"""

from __future__ import annotations

from datetime import timedelta

from django.db import IntegrityError, transaction
from django.db.models import Exists, F, OuterRef
from django.utils import timezone

from runs.models import StateType, TaskRun, TaskRunDelivery, TaskWorker

from .errors import InvalidInput

LEASE = timedelta(seconds=30)  # how long a claim outlives the last renewal of its subscription
RENEW_EVERY = timedelta(seconds=10)  # how often an open subscription renews (well inside LEASE)
ACKNOWLEDGED_GRACE = timedelta(seconds=10)  # a departed worker's started-but-unreported runs wait this long
STALE_AFTER = LEASE  # a subscription not renewed for this long belongs to a dead process
CANDIDATES = 20  # runs looked at per claim attempt
MAX_TASK_KEYS = 1000


def subscribe_task_worker(*, client_id, task_keys) -> TaskWorker:
    """Record an open subscription; stale ones left by dead processes are cleared on the way."""
    if not isinstance(client_id, str) or not client_id.strip():
        raise InvalidInput("expected 'client_id' in subscribe message")
    if (
        not isinstance(task_keys, list)
        or not task_keys
        or len(task_keys) > MAX_TASK_KEYS
        or not all(isinstance(key, str) and key for key in task_keys)
    ):
        raise InvalidInput("expected 'keys' in subscribe message: a list of task keys")
    now = timezone.now()
    TaskWorker.objects.filter(last_seen__lt=now - STALE_AFTER).delete()
    return TaskWorker.objects.create(
        client_id=client_id[:255], task_keys=list(dict.fromkeys(task_keys)), connected=now, last_seen=now
    )


def renew_task_worker(worker: TaskWorker) -> None:
    """Keep the subscription listed and its claims held; re-list it if it was cleared as stale."""
    now = timezone.now()
    with transaction.atomic():
        if not TaskWorker.objects.filter(id=worker.id).update(last_seen=now):
            worker.last_seen = now
            worker.save(force_insert=True)
        still_scheduled = TaskRunDelivery.objects.filter(subscriber=worker.id, task_run__state_id=F("state_id"))
        TaskRunDelivery.objects.filter(state_id__in=still_scheduled.values("state_id")).update(
            lease_until=now + LEASE
        )


def unsubscribe_task_worker(worker: TaskWorker) -> None:
    """The socket closed: unlist the worker and free what it holds (see the module's note)."""
    now = timezone.now()
    with transaction.atomic():
        TaskWorker.objects.filter(id=worker.id).delete()
        held = TaskRunDelivery.objects.filter(subscriber=worker.id, lease_until__gt=now)
        held.filter(acknowledged__isnull=True).update(lease_until=now)
        held.filter(acknowledged__isnull=False).update(lease_until=now + ACKNOWLEDGED_GRACE)


def waiting_task_runs(task_keys, now):
    """Runs of these task keys waiting for a worker and not held by a live claim."""
    held = TaskRunDelivery.objects.filter(state_id=OuterRef("state_id"), lease_until__gt=now)
    return (
        TaskRun.objects.filter(
            state_type=StateType.SCHEDULED, task_key__in=task_keys, state__state_details__deferred=True
        )
        .exclude(Exists(held))
    )


def claim_task_run(worker: TaskWorker) -> TaskRun | None:
    """Claim the longest-waiting run of the worker's task keys; None when there is none."""
    now = timezone.now()
    candidates = list(
        waiting_task_runs(worker.task_keys, now)
        .order_by("expected_start_time", "id")
        .values_list("id", "state_id")[:CANDIDATES]
    )
    for task_run_id, state_id in candidates:
        if _claim_state(worker, task_run_id, state_id, now):
            run = TaskRun.objects.select_related("state").filter(id=task_run_id).first()
            if run is not None and run.state_id == state_id:
                return run
            # It moved on (started, deleted) between the read and the claim: nothing to hand out.
            TaskRunDelivery.objects.filter(state_id=state_id, subscriber=worker.id).delete()
    return None


def _claim_state(worker: TaskWorker, task_run_id, state_id, now) -> bool:
    """Take the state for this worker: a new claim, or one whose lease ran out. Atomic either way."""
    lease = {"subscriber": worker.id, "lease_until": now + LEASE, "acknowledged": None}
    with transaction.atomic():
        if TaskRunDelivery.objects.filter(state_id=state_id, lease_until__lte=now).update(
            **lease, deliveries=F("deliveries") + 1
        ):
            return True
        try:
            with transaction.atomic():
                TaskRunDelivery.objects.create(state_id=state_id, task_run_id=task_run_id, **lease)
        except IntegrityError:  # somebody else holds it, or claimed it a moment ago
            return False
    return True


def acknowledge_task_run(worker: TaskWorker, *, state_id) -> None:
    TaskRunDelivery.objects.filter(state_id=state_id, subscriber=worker.id).update(acknowledged=timezone.now())


def release_task_run(worker: TaskWorker, *, state_id) -> None:
    """The run could not be sent: free it for the next subscriber at once."""
    TaskRunDelivery.objects.filter(state_id=state_id, subscriber=worker.id, acknowledged__isnull=True).update(
        lease_until=timezone.now()
    )


def read_task_workers(*, task_keys: list[str] | None = None) -> list[dict]:
    """Live task workers (one entry per client process), optionally those serving any of `task_keys`."""
    live = TaskWorker.objects.filter(last_seen__gte=timezone.now() - STALE_AFTER).order_by("connected", "id")
    wanted = set(task_keys or ())
    workers: dict[str, dict] = {}
    for row in live:
        if wanted and wanted.isdisjoint(row.task_keys):
            continue
        worker = workers.setdefault(
            row.client_id, {"identifier": row.client_id, "task_keys": [], "timestamp": row.last_seen}
        )
        worker["task_keys"] = list(dict.fromkeys([*worker["task_keys"], *row.task_keys]))
        worker["timestamp"] = max(worker["timestamp"], row.last_seen)
    return list(workers.values())

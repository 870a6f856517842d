"""Work pools, their queues and workers."""

from django.db import IntegrityError, transaction

from runs.models import WorkPool, WorkQueue

from .errors import NotFound

DEFAULT_QUEUE_NAME = "default"


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
    try:
        with transaction.atomic():
            queue, _ = WorkQueue.objects.get_or_create(work_pool=pool, name=work_queue_name)
    except IntegrityError:  # created concurrently
        queue = WorkQueue.objects.get(work_pool=pool, name=work_queue_name)
    return queue

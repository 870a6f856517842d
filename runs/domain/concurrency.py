"""Concurrency limits: global (v2) limits, tag (v1) limits on top of them, slots and leases.

How a limit is never exceeded: every change to a limit's slot count happens in one transaction
that first locks the limit rows involved, always in id order (so two requests never wait on each
other in a cycle). On SQLite our connections begin IMMEDIATE transactions, which serialise writers.
Slots taken with a lease are recorded as a lease row linked to the limits it holds, so any server
process can release them, and the slots of a lease nobody renewed come back once it expires
(lazily when the same limits are next acquired, and by `reclaim_expired_leases` run periodically).

Rate limits: a limit with `slot_decay_per_second` loses occupied slots over time; the decay is
applied whenever the limit is read or changed, in whole slots, keeping the unspent remainder.
"""

from __future__ import annotations

import math
import random
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from runs.models import ConcurrencyLease, ConcurrencyLeaseLimit, ConcurrencyLimit
from runs.models.concurrency import TAG_LIMIT_PREFIX

from .errors import AlreadyExists, DomainError, InvalidInput, NotFound

# Longest wait suggested to a client that found a limit full (the reference server's default).
MAX_SLOT_WAIT_SECONDS = 30.0
# Floor for the average slot occupancy, so wait estimates never divide by zero.
MIN_OCCUPANCY_SECONDS = 0.1
# The running average of slot occupancy spans about `limit * OCCUPANCY_SAMPLES` releases.
OCCUPANCY_SAMPLES = 2
# Retry-After is spread by up to this fraction either way so waiting clients do not retry in step.
RETRY_JITTER = 0.3
# v1 clients cannot renew, so their slots are held by leases that practically never expire.
V1_LEASE_DURATION = timedelta(days=365 * 100)
# Expired leases reclaimed per pass; a backlog is worked off over successive passes.
RECLAIM_BATCH = 500

# Slot counters are 32-bit integer columns.
MAX_SLOTS = 2**31 - 1

UPDATABLE_FIELDS = ("name", "limit", "active", "active_slots", "denied_slots", "slot_decay_per_second")


class SlotsLocked(DomainError):
    """The limits are full: try again after `retry_after` seconds (-> 423). Without a
    `retry_after`, waiting cannot help (a tag limit of 0)."""

    def __init__(self, message: str = "Locked", retry_after: float | None = None):
        super().__init__(message)
        self.retry_after = retry_after


class LeaseGone(DomainError):
    """The lease expired or was released (-> 410)."""


@dataclass
class Acquisition:
    limits: list[ConcurrencyLimit]  # every limit the names matched, active or not
    lease_id: uuid.UUID | None = None


# --- reading ---------------------------------------------------------------------------------


def decayed_slots(limit: ConcurrencyLimit, now: datetime) -> tuple[int, datetime]:
    """The limit's occupied slots after decay up to `now`, and the new decay mark."""
    rate = limit.slot_decay_per_second or 0.0
    if rate <= 0 or limit.active_slots <= 0:
        return max(limit.active_slots, 0), now
    elapsed = max((now - limit.decay_counted_at).total_seconds(), 0.0)
    decayed = math.floor(rate * elapsed)
    if decayed >= limit.active_slots:
        return 0, now
    return limit.active_slots - decayed, limit.decay_counted_at + timedelta(seconds=decayed / rate)


def denied_slots_now(limit: ConcurrencyLimit, now: datetime) -> int:
    """Recently denied requests, fading at the rate slots free up (a hint for Retry-After)."""
    if limit.denied_slots <= 0:
        return 0
    rate = limit.slot_decay_per_second or 1.0 / occupancy_per_slot(limit)
    elapsed = max((now - limit.updated).total_seconds(), 0.0)
    return max(limit.denied_slots - math.floor(rate * elapsed), 0)


def occupancy_per_slot(limit: ConcurrencyLimit) -> float:
    return max(MIN_OCCUPANCY_SECONDS, min(limit.avg_slot_occupancy_seconds, MAX_SLOT_WAIT_SECONDS))


def with_current_slots(limits, now: datetime | None = None):
    """Set each limit's active_slots to its decayed value (for display; nothing is written)."""
    now = now or timezone.now()
    for limit in limits:
        limit.active_slots, _ = decayed_slots(limit, now)
    return limits


def _by_id_or_name(id_or_name) -> Q:
    try:
        return Q(id=uuid.UUID(str(id_or_name)))
    except ValueError:
        return Q(name=id_or_name)


def read_concurrency_limit(*, id_or_name) -> ConcurrencyLimit:
    reclaim_expired_leases()  # so a reader never counts the slots of a holder that is gone
    limit = ConcurrencyLimit.objects.filter(_by_id_or_name(id_or_name)).first()
    if limit is None:
        raise NotFound("Concurrency Limit not found")
    return with_current_slots([limit])[0]


def read_concurrency_limits(*, window: slice | None = None, tags_only: bool = False) -> list[ConcurrencyLimit]:
    reclaim_expired_leases()
    queryset = ConcurrencyLimit.objects.order_by("name")
    if tags_only:
        queryset = queryset.filter(name__startswith=TAG_LIMIT_PREFIX)
    return with_current_slots(list(queryset[window] if window else queryset))


def read_holders(*, limit_ids) -> dict[uuid.UUID, list[ConcurrencyLease]]:
    """The unexpired leases on each limit, oldest first (one query)."""
    now = timezone.now()
    holders: dict[uuid.UUID, list[ConcurrencyLease]] = {limit_id: [] for limit_id in limit_ids}
    links = (
        ConcurrencyLeaseLimit.objects.filter(limit_id__in=list(limit_ids), lease__expires_at__gte=now)
        .select_related("lease")
        .order_by("lease__created")
    )
    for link in links:
        holders[link.limit_id].append(link.lease)
    return holders


def read_concurrency_usage() -> list[ConcurrencyLimit]:
    """Every limit with its current slots and its unexpired leases as `holders` (two queries)."""
    limits = read_concurrency_limits()
    holders = read_holders(limit_ids=[limit.id for limit in limits])
    for limit in limits:
        limit.holders = holders[limit.id]
    return limits


# --- creating, updating, deleting ------------------------------------------------------------


def validate_limit_fields(fields: dict) -> None:
    name = fields.get("name")
    if name is not None and (not name or any(char in name for char in "/%&><\x00")):
        raise InvalidInput("A concurrency limit name must be non-empty and cannot contain / % & > < or NUL")
    for key in ("limit", "active_slots", "denied_slots", "slot_decay_per_second"):
        if fields.get(key) is not None and fields[key] < 0:
            raise InvalidInput(f"{key} must be at least 0")


def create_concurrency_limit(
    *,
    name: str,
    limit: int,
    active: bool = True,
    active_slots: int = 0,
    denied_slots: int = 0,
    slot_decay_per_second: float = 0.0,
) -> ConcurrencyLimit:
    fields = dict(
        name=name, limit=limit, active=active, active_slots=active_slots,
        denied_slots=denied_slots, slot_decay_per_second=slot_decay_per_second,
    )
    validate_limit_fields(fields)
    try:
        with transaction.atomic():
            return ConcurrencyLimit.objects.create(**fields)
    except IntegrityError:
        raise AlreadyExists(f"A concurrency limit named {name!r} already exists") from None


def update_concurrency_limit(*, id_or_name, **changes) -> ConcurrencyLimit:
    """Change the given fields (None means "leave as is")."""
    changes = {key: value for key, value in changes.items() if value is not None}
    unknown = set(changes) - set(UPDATABLE_FIELDS)
    if unknown:
        raise InvalidInput(f"Cannot update {', '.join(sorted(unknown))}")
    validate_limit_fields(changes)
    try:
        with transaction.atomic():
            limit = ConcurrencyLimit.objects.select_for_update().filter(_by_id_or_name(id_or_name)).first()
            if limit is None:
                raise NotFound("Concurrency Limit not found")
            now = timezone.now()
            limit.active_slots, limit.decay_counted_at = decayed_slots(limit, now)
            if "active_slots" in changes:
                limit.decay_counted_at = now
            for key, value in changes.items():
                setattr(limit, key, value)
            limit.save()
            return limit
    except IntegrityError:
        raise AlreadyExists(f"A concurrency limit named {changes.get('name')!r} already exists") from None


def delete_concurrency_limit(*, id_or_name) -> None:
    """Delete the limit and every lease on it (the slots those leases hold elsewhere come back)."""
    with transaction.atomic():
        limit = ConcurrencyLimit.objects.filter(_by_id_or_name(id_or_name)).first()
        if limit is None:
            raise NotFound("Concurrency Limit not found")
        lease_ids = list(ConcurrencyLeaseLimit.objects.filter(limit_id=limit.id).values_list("lease_id", flat=True))
        _drop_leases(lease_ids)
        ConcurrencyLimit.objects.filter(id=limit.id).delete()


# --- taking and giving back slots ------------------------------------------------------------


def acquire_slots(
    *,
    names: list[str],
    slots: int,
    mode: str = "concurrency",
    lease_duration: float | timedelta | None = None,
    holder_type: str | None = None,
    holder_id=None,
) -> Acquisition:
    """Take `slots` on every active limit named, all or nothing.

    With `lease_duration`, the slots are held by a new lease (returned) that must be renewed
    before it expires. Names without a limit are ignored; if none matches, nothing is held and
    `lease_id` is a fresh id that leads nowhere (the client then runs without a lease).
    Raises SlotsLocked when a limit is full, InvalidInput when the request can never succeed.
    """
    if slots <= 0:
        raise InvalidInput("slots must be greater than 0")
    names = sorted(set(names))
    matched = list(ConcurrencyLimit.objects.filter(name__in=names).values_list("id", "active"))
    if not matched:  # the common case for tags without limits: one read, no transaction
        return Acquisition(limits=[], lease_id=uuid.uuid4() if lease_duration is not None else None)
    active_ids = [limit_id for limit_id, active in matched if active]
    if active_ids:
        _reclaim_expired_on(active_ids)

    with transaction.atomic():
        limits = list(ConcurrencyLimit.objects.select_for_update().filter(name__in=names).order_by("id"))
        active = [limit for limit in limits if limit.active]
        if any(limit.limit < slots for limit in active):
            raise InvalidInput("Slots requested is greater than the limit")
        if mode == "rate_limit":
            non_decaying = [limit.name for limit in active if not limit.slot_decay_per_second]
            if non_decaying:
                raise InvalidInput(
                    "Only concurrency limits with slot decay can be used for rate limiting. "
                    f"These limits have no decay configured: {', '.join(non_decaying)}"
                )
        now = timezone.now()
        current = {limit.id: decayed_slots(limit, now) for limit in active}
        granted = all(current[limit.id][0] + slots <= limit.limit for limit in active)
        for limit in active:
            occupied, limit.decay_counted_at = current[limit.id]
            # Refused requests form a queue; a granted one has most likely left it.
            denied = denied_slots_now(limit, now)
            limit.denied_slots = max(denied - slots, 0) if granted else min(denied + slots, MAX_SLOTS)
            limit.active_slots = occupied + slots if granted else occupied
            limit.updated = now
        ConcurrencyLimit.objects.bulk_update(
            active, ["active_slots", "denied_slots", "decay_counted_at", "updated"]
        )
        lease_id = None
        if granted and lease_duration is not None:
            lease_id = _create_lease(active, slots, lease_duration, holder_type, holder_id, now)
    if not granted:
        raise SlotsLocked(retry_after=retry_after_seconds(active, slots, now))
    return Acquisition(limits=limits, lease_id=lease_id)


def _create_lease(limits, slots, duration, holder_type, holder_id, now) -> uuid.UUID:
    duration = duration if isinstance(duration, timedelta) else timedelta(seconds=duration)
    lease = ConcurrencyLease.objects.create(
        id=uuid.uuid4(), created=now, expires_at=now + duration, slots=slots,
        holder_type=holder_type, holder_id=holder_id,
    )
    ConcurrencyLeaseLimit.objects.bulk_create([ConcurrencyLeaseLimit(lease=lease, limit=limit) for limit in limits])
    return lease.id


def retry_after_seconds(limits: list[ConcurrencyLimit], slots: int, now: datetime) -> float:
    """How long a refused client should wait (limits carry their current slot counts).

    A rate limit frees slots on a schedule, so the wait is exact: until enough slots have decayed,
    spread a little by how many others were refused lately. A plain limit frees slots when holders
    finish: estimate from the average occupancy and the queue of refused requests, capped.
    """

    def wait(limit):
        missing = limit.active_slots + slots - limit.limit
        if missing <= 0:
            return 0.0
        rate = limit.slot_decay_per_second
        if rate:
            until_free = missing / rate - (now - limit.decay_counted_at).total_seconds()
            return max(until_free, 0.0) + random.uniform(0, RETRY_JITTER * limit.denied_slots / rate)
        queued = limit.denied_slots / max(limit.limit, 1)
        interval = min(occupancy_per_slot(limit) * queued, MAX_SLOT_WAIT_SECONDS)
        return interval * random.uniform(1 - RETRY_JITTER, 1 + RETRY_JITTER)

    return round(max(max(wait(limit) for limit in limits), 0.0) + 0.01, 3)


def release_slots(*, names: list[str], slots: int, occupancy_seconds: float | None = None) -> list[ConcurrencyLimit]:
    """Give back slots taken without a lease; returns the limits the names matched."""
    if slots <= 0:
        raise InvalidInput("slots must be greater than 0")
    with transaction.atomic():
        limits = list(ConcurrencyLimit.objects.select_for_update().filter(name__in=set(names)).order_by("id"))
        active = [limit for limit in limits if limit.active]
        now = timezone.now()
        for limit in active:
            _give_back(limit, slots, occupancy_seconds, now)
        ConcurrencyLimit.objects.bulk_update(active, SLOT_FIELDS)
    return limits


SLOT_FIELDS = ["active_slots", "denied_slots", "decay_counted_at", "avg_slot_occupancy_seconds", "updated"]


def _give_back(limit: ConcurrencyLimit, slots: int, occupancy_seconds: float | None, now: datetime) -> None:
    occupied, limit.decay_counted_at = decayed_slots(limit, now)
    limit.denied_slots = denied_slots_now(limit, now)
    limit.active_slots = max(occupied - slots, 0)
    if occupancy_seconds:
        per_slot = max(occupancy_seconds / slots, MIN_OCCUPANCY_SECONDS)
        samples = max(limit.limit, 1) * OCCUPANCY_SAMPLES
        limit.avg_slot_occupancy_seconds += (per_slot - limit.avg_slot_occupancy_seconds) / samples
    limit.updated = now


def renew_lease(*, lease_id, lease_duration: float) -> None:
    now = timezone.now()
    renewed = ConcurrencyLease.objects.filter(id=lease_id, expires_at__gte=now).update(
        expires_at=now + timedelta(seconds=lease_duration)
    )
    if not renewed:
        raise LeaseGone("Lease not found - it may have expired or been revoked")


def release_lease(*, lease_id) -> bool:
    """Give back the lease's slots; False if it was already gone (releasing twice is harmless)."""
    with transaction.atomic():
        return bool(_drop_leases([lease_id], record_occupancy=True))


def _drop_leases(lease_ids, *, expired_before: datetime | None = None, record_occupancy: bool = False) -> int:
    """Delete the leases (only those expired before the given time, if one is given) and give
    their slots back. Runs inside the caller's transaction; returns how many were dropped."""
    if not lease_ids:
        return 0
    links: dict[uuid.UUID, list[uuid.UUID]] = {}
    for lease_id, limit_id in ConcurrencyLeaseLimit.objects.filter(lease_id__in=lease_ids).values_list(
        "lease_id", "limit_id"
    ):
        links.setdefault(lease_id, []).append(limit_id)
    # Lock order everywhere: limits (by id) first, then leases.
    limit_ids = sorted({limit_id for ids in links.values() for limit_id in ids})
    limits = {limit.id: limit for limit in ConcurrencyLimit.objects.select_for_update().filter(id__in=limit_ids).order_by("id")}
    leases = ConcurrencyLease.objects.select_for_update().filter(id__in=lease_ids)
    if expired_before is not None:
        leases = leases.filter(expires_at__lt=expired_before)
    leases = list(leases.order_by("id"))
    if not leases:
        return 0
    now = timezone.now()
    touched = {}
    for lease in leases:
        occupancy = (now - lease.created).total_seconds() if record_occupancy else None
        for limit_id in links.get(lease.id, []):
            if limit_id in limits:
                _give_back(limits[limit_id], lease.slots, occupancy, now)
                touched[limit_id] = limits[limit_id]
    ConcurrencyLease.objects.filter(id__in=[lease.id for lease in leases]).delete()
    ConcurrencyLimit.objects.bulk_update(list(touched.values()), SLOT_FIELDS)
    return len(leases)


def _reclaim_expired_on(limit_ids) -> int:
    now = timezone.now()
    expired = list(
        ConcurrencyLease.objects.filter(limit_links__limit_id__in=limit_ids, expires_at__lt=now)
        .values_list("id", flat=True)
        .distinct()[:RECLAIM_BATCH]
    )
    if not expired:
        return 0
    with transaction.atomic():
        return _drop_leases(expired, expired_before=now)


def reclaim_expired_leases() -> int:
    """Give back the slots of every lease whose holder stopped renewing it. Safe to run from
    several processes at once; meant to run every few seconds as a periodic task."""
    now = timezone.now()
    reclaimed = 0
    while True:
        expired = list(ConcurrencyLease.objects.filter(expires_at__lt=now).values_list("id", flat=True)[:RECLAIM_BATCH])
        if not expired:
            return reclaimed
        with transaction.atomic():
            dropped = _drop_leases(expired, expired_before=now)
        reclaimed += dropped
        if len(expired) < RECLAIM_BATCH:
            return reclaimed


# --- tag (v1) limits: a facade over v2 limits named "tag:<tag>" ------------------------------


def tag_limit_name(tag: str) -> str:
    return f"{TAG_LIMIT_PREFIX}{tag}"


def tag_slot_holders(limit_ids) -> dict[uuid.UUID, list[uuid.UUID]]:
    """The task runs holding slots on each tag limit (v1 `active_slots`)."""
    return {
        limit_id: [lease.holder_id for lease in leases if lease.holder_type == "task_run" and lease.holder_id]
        for limit_id, leases in read_holders(limit_ids=limit_ids).items()
    }


def create_tag_limit(*, tag: str, concurrency_limit: int) -> tuple[ConcurrencyLimit, bool]:
    """Create the tag's limit, or set the limit of the existing one. Returns (limit, created)."""
    if not tag:
        raise InvalidInput("A tag is required")
    if concurrency_limit < 0:
        raise InvalidInput("concurrency_limit must be at least 0")
    name = tag_limit_name(tag)
    existing = ConcurrencyLimit.objects.filter(name=name).first()
    if existing:
        return update_concurrency_limit(id_or_name=existing.id, limit=concurrency_limit), False
    try:
        return create_concurrency_limit(name=name, limit=concurrency_limit), True
    except AlreadyExists:  # created concurrently: this request updates it instead
        return update_concurrency_limit(id_or_name=name, limit=concurrency_limit), False


def read_tag_limit(*, tag: str | None = None, limit_id=None) -> ConcurrencyLimit:
    lookup = Q(name=tag_limit_name(tag)) if tag is not None else Q(id=limit_id, name__startswith=TAG_LIMIT_PREFIX)
    limit = ConcurrencyLimit.objects.filter(lookup).first()
    if limit is None:
        raise NotFound("Concurrency limit not found")
    return limit


def delete_tag_limit(*, tag: str | None = None, limit_id=None) -> None:
    delete_concurrency_limit(id_or_name=read_tag_limit(tag=tag, limit_id=limit_id).id)


def reset_tag_limit(*, tag: str, slot_override: list | None = None) -> None:
    """Release every slot on the tag's limit; with `slot_override`, those task runs hold the
    slots afterwards (one each, until released with /concurrency_limits/decrement)."""
    reset_concurrency_limit(id_or_name=read_tag_limit(tag=tag).id, task_run_ids=slot_override)


def reset_concurrency_limit(*, id_or_name, task_run_ids: list | None = None) -> ConcurrencyLimit:
    """Free every slot of the limit: its leases are dropped (giving back what they hold on other
    limits too, so their holders' renewals fail). The given task runs then hold one slot each."""
    with transaction.atomic():
        limit = ConcurrencyLimit.objects.filter(_by_id_or_name(id_or_name)).first()
        if limit is None:
            raise NotFound("Concurrency limit not found")
        lease_ids = list(ConcurrencyLeaseLimit.objects.filter(limit_id=limit.id).values_list("lease_id", flat=True))
        _drop_leases(lease_ids)
        limit = ConcurrencyLimit.objects.select_for_update().get(id=limit.id)
        now = timezone.now()
        holders = list(dict.fromkeys(task_run_ids or []))
        limit.active_slots, limit.decay_counted_at, limit.denied_slots, limit.updated = len(holders), now, 0, now
        limit.save(update_fields=["active_slots", "decay_counted_at", "denied_slots", "updated"])
        for task_run_id in holders:
            _create_lease([limit], 1, V1_LEASE_DURATION, "task_run", task_run_id, now)
    return limit


def increment_tag_limits(*, tags: list[str], task_run_id) -> list[ConcurrencyLimit]:
    """Take one slot per tag limit for the task run (old clients without leases)."""
    names = [tag_limit_name(tag) for tag in tags]
    for limit in ConcurrencyLimit.objects.filter(name__in=names, limit=0):
        raise SlotsLocked(
            f'The concurrency limit on tag "{limit.tag}" is 0 and will deadlock if the task tries to run again.'
        )
    acquisition = acquire_slots(
        names=names, slots=1, lease_duration=V1_LEASE_DURATION, holder_type="task_run", holder_id=task_run_id
    )
    return [limit for limit in acquisition.limits if limit.active]


def decrement_tag_limits(*, tags: list[str], task_run_id) -> list[ConcurrencyLimit]:
    """Release the slots the task run holds on these tags' limits."""
    limits = list(ConcurrencyLimit.objects.filter(name__in=[tag_limit_name(tag) for tag in tags]))
    lease_ids = list(
        ConcurrencyLeaseLimit.objects.filter(limit__in=limits, lease__holder_id=task_run_id)
        .values_list("lease_id", flat=True)
        .distinct()
    )
    with transaction.atomic():
        _drop_leases(lease_ids, record_occupancy=True)
    return limits

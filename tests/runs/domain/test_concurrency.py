"""Concurrency limits in the domain: slots, leases, decay, expiry, tag limits, races."""

import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from django.db import OperationalError, connection
from django.utils import timezone

from runs.domain import concurrency as domain
from runs.domain.errors import AlreadyExists, InvalidInput, NotFound
from runs.models import ConcurrencyLease, ConcurrencyLimit


def occupied(name):
    return domain.read_concurrency_limit(id_or_name=name).active_slots


def expire(lease_id):
    ConcurrencyLease.objects.filter(id=lease_id).update(expires_at=timezone.now() - timedelta(seconds=1))


@pytest.mark.django_db
class TestCreatingLimits:
    def test_a_second_limit_with_the_same_name_is_refused(self):
        domain.create_concurrency_limit(name="db", limit=2)
        with pytest.raises(AlreadyExists):
            domain.create_concurrency_limit(name="db", limit=3)

    def test_names_with_url_characters_are_refused(self):
        with pytest.raises(InvalidInput):
            domain.create_concurrency_limit(name="a/b", limit=1)

    def test_negative_limits_are_refused(self):
        with pytest.raises(InvalidInput):
            domain.create_concurrency_limit(name="db", limit=-1)

    def test_a_limit_is_found_by_id_or_by_name(self):
        limit = domain.create_concurrency_limit(name="db", limit=2)
        assert domain.read_concurrency_limit(id_or_name=str(limit.id)).name == "db"
        assert domain.read_concurrency_limit(id_or_name="db").id == limit.id

    def test_an_unknown_limit_is_not_found(self):
        with pytest.raises(NotFound):
            domain.read_concurrency_limit(id_or_name="nope")


@pytest.mark.django_db
class TestAcquiringSlots:
    def test_names_without_a_limit_hold_nothing_but_still_get_a_lease_id(self):
        acquisition = domain.acquire_slots(names=["tag:none"], slots=1, lease_duration=60)
        assert acquisition.limits == []
        assert acquisition.lease_id is not None
        assert not ConcurrencyLease.objects.exists()

    def test_slots_are_taken_on_every_named_limit(self):
        domain.create_concurrency_limit(name="a", limit=2)
        domain.create_concurrency_limit(name="b", limit=3)
        acquisition = domain.acquire_slots(names=["a", "b", "missing"], slots=2, lease_duration=60)
        assert sorted(limit.name for limit in acquisition.limits) == ["a", "b"]
        assert (occupied("a"), occupied("b")) == (2, 2)

    def test_a_full_limit_refuses_with_a_wait_and_takes_nothing_anywhere(self):
        domain.create_concurrency_limit(name="a", limit=1)
        domain.create_concurrency_limit(name="b", limit=5)
        domain.acquire_slots(names=["a"], slots=1)
        with pytest.raises(domain.SlotsLocked) as refused:
            domain.acquire_slots(names=["a", "b"], slots=1, lease_duration=60)
        assert refused.value.retry_after > 0
        assert (occupied("a"), occupied("b")) == (1, 0)
        assert ConcurrencyLimit.objects.get(name="a").denied_slots == 1

    def test_asking_for_more_slots_than_the_limit_is_invalid(self):
        domain.create_concurrency_limit(name="a", limit=1)
        with pytest.raises(InvalidInput):
            domain.acquire_slots(names=["a"], slots=2)

    def test_inactive_limits_are_matched_but_not_counted(self):
        domain.create_concurrency_limit(name="a", limit=1, active=False)
        domain.acquire_slots(names=["a"], slots=1)
        acquisition = domain.acquire_slots(names=["a"], slots=1, lease_duration=60)
        assert [limit.name for limit in acquisition.limits] == ["a"]
        assert occupied("a") == 0

    def test_rate_limiting_needs_a_decaying_limit(self):
        domain.create_concurrency_limit(name="a", limit=1)
        with pytest.raises(InvalidInput):
            domain.acquire_slots(names=["a"], slots=1, mode="rate_limit")

    def test_releasing_without_a_lease_gives_the_slots_back(self):
        domain.create_concurrency_limit(name="a", limit=3)
        domain.acquire_slots(names=["a"], slots=3)
        domain.release_slots(names=["a"], slots=2, occupancy_seconds=4.0)
        assert occupied("a") == 1

    def test_releasing_more_than_held_stops_at_zero(self):
        domain.create_concurrency_limit(name="a", limit=3)
        domain.release_slots(names=["a"], slots=2)
        assert occupied("a") == 0


@pytest.mark.django_db
class TestLeases:
    def test_releasing_a_lease_gives_its_slots_back_once(self):
        domain.create_concurrency_limit(name="a", limit=2)
        lease_id = domain.acquire_slots(names=["a"], slots=2, lease_duration=60).lease_id
        assert domain.release_lease(lease_id=lease_id) is True
        assert domain.release_lease(lease_id=lease_id) is False
        assert occupied("a") == 0

    def test_renewing_pushes_the_expiry_out(self):
        domain.create_concurrency_limit(name="a", limit=1)
        lease_id = domain.acquire_slots(names=["a"], slots=1, lease_duration=60).lease_id
        domain.renew_lease(lease_id=lease_id, lease_duration=600)
        expires = ConcurrencyLease.objects.get(id=lease_id).expires_at
        assert expires > timezone.now() + timedelta(seconds=500)

    def test_an_expired_lease_cannot_be_renewed(self):
        domain.create_concurrency_limit(name="a", limit=1)
        lease_id = domain.acquire_slots(names=["a"], slots=1, lease_duration=60).lease_id
        expire(lease_id)
        with pytest.raises(domain.LeaseGone):
            domain.renew_lease(lease_id=lease_id, lease_duration=60)

    def test_an_unknown_lease_cannot_be_renewed(self):
        with pytest.raises(domain.LeaseGone):
            domain.renew_lease(lease_id=uuid.uuid4(), lease_duration=60)

    def test_the_slots_of_an_expired_lease_come_back_on_the_next_acquire(self):
        domain.create_concurrency_limit(name="a", limit=1)
        lease_id = domain.acquire_slots(names=["a"], slots=1, lease_duration=60).lease_id
        expire(lease_id)
        domain.acquire_slots(names=["a"], slots=1, lease_duration=60)
        assert occupied("a") == 1
        assert not ConcurrencyLease.objects.filter(id=lease_id).exists()

    def test_the_periodic_reclaim_gives_back_expired_leases_on_every_limit_they_hold(self):
        domain.create_concurrency_limit(name="a", limit=2)
        domain.create_concurrency_limit(name="b", limit=2)
        expired = domain.acquire_slots(names=["a", "b"], slots=1, lease_duration=60).lease_id
        kept = domain.acquire_slots(names=["a"], slots=1, lease_duration=60).lease_id
        expire(expired)
        assert domain.reclaim_expired_leases() == 1
        assert (occupied("a"), occupied("b")) == (1, 0)
        assert list(ConcurrencyLease.objects.values_list("id", flat=True)) == [kept]

    def test_deleting_a_limit_releases_what_its_leases_hold_elsewhere(self):
        domain.create_concurrency_limit(name="a", limit=2)
        domain.create_concurrency_limit(name="b", limit=2)
        domain.acquire_slots(names=["a", "b"], slots=1, lease_duration=60)
        domain.delete_concurrency_limit(id_or_name="a")
        assert occupied("b") == 0
        assert not ConcurrencyLease.objects.exists()

    def test_holders_are_listed_per_limit(self):
        limit = domain.create_concurrency_limit(name="a", limit=2)
        task_run_id = uuid.uuid4()
        domain.acquire_slots(names=["a"], slots=1, lease_duration=60, holder_type="task_run", holder_id=task_run_id)
        holders = domain.read_holders(limit_ids=[limit.id])[limit.id]
        assert [(lease.holder_type, lease.holder_id) for lease in holders] == [("task_run", task_run_id)]


@pytest.mark.django_db
class TestSlotDecay:
    def test_occupied_slots_decay_over_time(self):
        limit = domain.create_concurrency_limit(name="r", limit=5, slot_decay_per_second=2.0)
        domain.acquire_slots(names=["r"], slots=4, mode="rate_limit")
        ConcurrencyLimit.objects.filter(id=limit.id).update(decay_counted_at=timezone.now() - timedelta(seconds=1.2))
        assert occupied("r") == 2

    def test_partial_decay_is_kept_for_later_rather_than_lost(self):
        limit = ConcurrencyLimit(active_slots=3, slot_decay_per_second=1.0)
        start = timezone.now()
        limit.decay_counted_at = start
        slots, mark = domain.decayed_slots(limit, start + timedelta(seconds=1.5))
        assert slots == 2
        assert mark == start + timedelta(seconds=1)

    def test_a_rate_limit_refusal_waits_until_the_next_slot_decays(self):
        domain.create_concurrency_limit(name="r", limit=1, slot_decay_per_second=2.0)
        domain.acquire_slots(names=["r"], slots=1, mode="rate_limit")
        with pytest.raises(domain.SlotsLocked) as refused:
            domain.acquire_slots(names=["r"], slots=1, mode="rate_limit")
        assert 0.2 < refused.value.retry_after <= 0.9


@pytest.mark.django_db
class TestTagLimits:
    def test_a_tag_limit_is_a_global_limit_named_after_the_tag(self):
        limit, created = domain.create_tag_limit(tag="db", concurrency_limit=2)
        assert created and limit.name == "tag:db" and limit.tag == "db"

    def test_creating_it_again_updates_the_limit(self):
        first, _ = domain.create_tag_limit(tag="db", concurrency_limit=2)
        again, created = domain.create_tag_limit(tag="db", concurrency_limit=7)
        assert not created and again.id == first.id and again.limit == 7

    def test_increment_and_decrement_track_the_task_runs_holding_slots(self):
        limit, _ = domain.create_tag_limit(tag="db", concurrency_limit=2)
        task_run_id = uuid.uuid4()
        domain.increment_tag_limits(tags=["db", "other"], task_run_id=task_run_id)
        assert domain.tag_slot_holders([limit.id])[limit.id] == [task_run_id]
        domain.decrement_tag_limits(tags=["db"], task_run_id=task_run_id)
        assert domain.tag_slot_holders([limit.id])[limit.id] == []
        assert occupied("tag:db") == 0

    def test_a_zero_tag_limit_refuses_without_a_wait(self):
        domain.create_tag_limit(tag="off", concurrency_limit=0)
        with pytest.raises(domain.SlotsLocked) as refused:
            domain.increment_tag_limits(tags=["off"], task_run_id=uuid.uuid4())
        assert refused.value.retry_after is None

    def test_reset_frees_every_slot_and_can_name_new_holders(self):
        limit, _ = domain.create_tag_limit(tag="db", concurrency_limit=3)
        domain.increment_tag_limits(tags=["db"], task_run_id=uuid.uuid4())
        domain.increment_tag_limits(tags=["db"], task_run_id=uuid.uuid4())
        keeper = uuid.uuid4()
        domain.reset_tag_limit(tag="db", slot_override=[keeper])
        assert occupied("tag:db") == 1
        assert domain.tag_slot_holders([limit.id])[limit.id] == [keeper]

    def test_resetting_an_unknown_tag_is_not_found(self):
        with pytest.raises(NotFound):
            domain.reset_tag_limit(tag="nope")


def acquire_waiting_for_the_lock(**kwargs):
    for _ in range(400):
        try:
            return domain.acquire_slots(**kwargs)
        except OperationalError as exc:
            # Shared-cache in-memory SQLite fails BEGIN at once while another connection writes.
            if connection.vendor != "sqlite" or "locked" not in str(exc):
                raise
            time.sleep(0.02)
    raise AssertionError("the write lock was never released")


@pytest.mark.django_db(transaction=True)
class TestRacingClients:
    def test_many_threads_racing_never_take_more_slots_than_the_limit(self):
        domain.create_concurrency_limit(name="tight", limit=3)
        domain.create_concurrency_limit(name="tag:wide", limit=5)
        workers = 8
        barrier = threading.Barrier(workers)

        def race(_):
            granted = 0
            try:
                barrier.wait(timeout=10)
                for _ in range(3):
                    try:
                        acquire_waiting_for_the_lock(names=["tight", "tag:wide"], slots=1, lease_duration=60)
                        granted += 1
                    except domain.SlotsLocked:
                        pass
                return granted
            finally:
                connection.close()

        with ThreadPoolExecutor(workers) as pool:
            granted = sum(pool.map(race, range(workers)))

        assert granted == 3
        assert occupied("tight") == 3
        assert occupied("tag:wide") == 3
        assert ConcurrencyLease.objects.count() == 3


@pytest.mark.django_db
class TestReadingAfterExpiry:
    def test_reading_a_limit_does_not_count_the_slots_of_expired_leases(self):
        domain.create_concurrency_limit(name="a", limit=2)
        expire(domain.acquire_slots(names=["a"], slots=2, lease_duration=60).lease_id)
        assert occupied("a") == 0
        assert [limit.active_slots for limit in domain.read_concurrency_limits()] == [0]

    def test_expired_leases_whose_limits_were_deleted_are_cleaned_up(self):
        limit = domain.create_concurrency_limit(name="a", limit=2)
        lease_id = domain.acquire_slots(names=["a"], slots=1, lease_duration=60).lease_id
        ConcurrencyLimit.objects.filter(id=limit.id).delete()  # as a deployment's limit is removed
        expire(lease_id)
        assert domain.reclaim_expired_leases() == 1
        assert not ConcurrencyLease.objects.exists()

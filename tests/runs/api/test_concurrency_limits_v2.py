"""/api/v2/concurrency_limits: global limits, slots with and without leases, as the client calls them."""

import uuid
from datetime import timedelta

import pytest
from django.utils import timezone

from runs.models import ConcurrencyLease


@pytest.fixture
def make_limit(api):
    def make(name="db", limit=2, **fields):
        response = api.post("/v2/concurrency_limits/", {"name": name, "limit": limit, **fields})
        assert response.status_code == 201, response.data
        return response.data

    return make


def lease_body(*names, slots=1, **extra):
    return {"names": list(names), "slots": slots, "mode": "concurrency", "lease_duration": 60, **extra}


class TestCreateLimit:
    def test_the_cli_body_creates_a_limit(self, api):
        body = {"name": "gcl", "limit": 2, "active": True, "active_slots": 0, "slot_decay_per_second": 0.0}
        response = api.post("/v2/concurrency_limits/", body)
        assert response.status_code == 201
        assert response.data["name"] == "gcl" and response.data["limit"] == 2
        assert set(response.data) >= {"id", "created", "updated", "denied_slots", "avg_slot_occupancy_seconds"}

    def test_a_duplicate_name_is_a_conflict(self, api, make_limit):
        make_limit("gcl")
        response = api.post("/v2/concurrency_limits/", {"name": "gcl", "limit": 1})
        assert response.status_code == 409
        assert "detail" in response.data

    @pytest.mark.parametrize(
        "body",
        [
            {"name": "a/b", "limit": 1},
            {"name": "a", "limit": -1},
            {"name": "a", "limit": 2**40},
            {"name": "a\x00b", "limit": 1},
            {"name": "a" * 300, "limit": 1},
            {"limit": 1},
            {"name": "a"},
        ],
    )
    def test_invalid_bodies_are_rejected(self, api, body):
        response = api.post("/v2/concurrency_limits/", body)
        assert response.status_code == 422
        assert "detail" in response.data


class TestReadLimit:
    def test_a_limit_is_read_by_name_or_id(self, api, make_limit):
        created = make_limit("gcl")
        assert api.get("/v2/concurrency_limits/gcl").data["id"] == created["id"]
        assert api.get(f"/v2/concurrency_limits/{created['id']}").data["name"] == "gcl"

    def test_an_unknown_limit_is_404(self, api):
        response = api.get("/v2/concurrency_limits/nope")
        assert response.status_code == 404
        assert response.data == {"detail": "Concurrency Limit not found"}

    def test_filter_lists_limits_by_name_with_nulls_meaning_defaults(self, api, make_limit):
        make_limit("b")
        make_limit("a")
        response = api.post("/v2/concurrency_limits/filter", {"limit": None, "offset": None})
        assert [limit["name"] for limit in response.data] == ["a", "b"]
        assert api.post("/v2/concurrency_limits/filter", {"limit": 1, "offset": 1}).data[0]["name"] == "b"


class TestUpdateAndDeleteLimit:
    def test_patch_changes_only_the_given_fields(self, api, make_limit):
        make_limit("gcl", limit=2)
        response = api.patch("/v2/concurrency_limits/gcl", {"limit": 5, "active": None})
        assert response.status_code == 204
        limit = api.get("/v2/concurrency_limits/gcl").data
        assert (limit["limit"], limit["active"]) == (5, True)

    def test_patching_an_unknown_limit_is_404(self, api):
        assert api.patch("/v2/concurrency_limits/nope", {"limit": 1}).status_code == 404

    def test_delete_removes_the_limit(self, api, make_limit):
        make_limit("gcl")
        assert api.delete("/v2/concurrency_limits/gcl").status_code == 204
        assert api.get("/v2/concurrency_limits/gcl").status_code == 404
        assert api.delete("/v2/concurrency_limits/gcl").status_code == 404


class TestIncrementWithLease:
    def test_names_without_limits_get_an_empty_answer_the_client_runs_without(self, api):
        response = api.post(
            "/v2/concurrency_limits/increment-with-lease",
            lease_body("tag:db", holder={"type": "task_run", "id": str(uuid.uuid4())}),
        )
        assert response.status_code == 200
        assert response.data["limits"] == []
        assert uuid.UUID(response.data["lease_id"])

    def test_a_granted_lease_lists_the_limits_it_holds(self, api, make_limit):
        created = make_limit("gcl", limit=1)
        response = api.post("/v2/concurrency_limits/increment-with-lease", lease_body("gcl"))
        assert response.status_code == 200
        assert response.data["limits"] == [{"id": created["id"], "name": "gcl", "limit": 1}]
        assert api.get("/v2/concurrency_limits/gcl").data["active_slots"] == 1

    def test_a_full_limit_answers_423_with_retry_after(self, api, make_limit):
        make_limit("gcl", limit=1)
        api.post("/v2/concurrency_limits/increment-with-lease", lease_body("gcl"))
        response = api.post("/v2/concurrency_limits/increment-with-lease", lease_body("gcl"))
        assert response.status_code == 423
        assert response.data == {"detail": "Locked"}
        assert float(response["Retry-After"]) > 0

    def test_more_slots_than_the_limit_is_422(self, api, make_limit):
        make_limit("gcl", limit=1)
        response = api.post("/v2/concurrency_limits/increment-with-lease", lease_body("gcl", slots=2))
        assert response.status_code == 422

    @pytest.mark.parametrize(
        "body",
        [
            {"names": [], "slots": 1},
            {"names": ["a"], "slots": 0},
            {"names": ["a"], "slots": 1, "lease_duration": 5},
            {"names": ["a"], "slots": 1, "mode": "sometimes"},
            {"names": ["a"], "slots": 1, "holder": {"type": "robot", "id": str(uuid.uuid4())}},
        ],
    )
    def test_invalid_bodies_are_rejected(self, api, body):
        response = api.post("/v2/concurrency_limits/increment-with-lease", body)
        assert response.status_code == 422
        assert "detail" in response.data

    def test_renew_and_release_cycle(self, api, make_limit):
        make_limit("gcl", limit=1)
        lease_id = api.post("/v2/concurrency_limits/increment-with-lease", lease_body("gcl")).data["lease_id"]
        renewed = api.post(f"/v2/concurrency_limits/leases/{lease_id}/renew", {"lease_duration": 60})
        assert renewed.status_code == 204
        released = api.post("/v2/concurrency_limits/decrement-with-lease", {"lease_id": lease_id})
        assert released.status_code == 204
        assert api.get("/v2/concurrency_limits/gcl").data["active_slots"] == 0
        # Releasing again is harmless; renewing a released lease says it is gone.
        assert api.post("/v2/concurrency_limits/decrement-with-lease", {"lease_id": lease_id}).status_code == 204
        gone = api.post(f"/v2/concurrency_limits/leases/{lease_id}/renew", {"lease_duration": 60})
        assert gone.status_code == 410
        assert "detail" in gone.data

    def test_an_expired_lease_frees_its_slot_for_the_next_client(self, api, make_limit):
        make_limit("gcl", limit=1)
        lease_id = api.post("/v2/concurrency_limits/increment-with-lease", lease_body("gcl")).data["lease_id"]
        ConcurrencyLease.objects.filter(id=lease_id).update(expires_at=timezone.now() - timedelta(seconds=1))
        response = api.post("/v2/concurrency_limits/increment-with-lease", lease_body("gcl"))
        assert response.status_code == 200
        assert api.get("/v2/concurrency_limits/gcl").data["active_slots"] == 1


class TestIncrementAndDecrementWithoutLease:
    def test_rate_limit_mode_needs_a_decaying_limit(self, api, make_limit):
        make_limit("plain", limit=1)
        response = api.post("/v2/concurrency_limits/increment", {"names": ["plain"], "slots": 1, "mode": "rate_limit"})
        assert response.status_code == 422

    def test_rate_limit_takes_slots_until_full(self, api, make_limit):
        make_limit("rl", limit=1, slot_decay_per_second=0.5)
        body = {"names": ["rl"], "slots": 1, "mode": "rate_limit"}
        first = api.post("/v2/concurrency_limits/increment", body)
        assert first.status_code == 200 and first.data[0]["name"] == "rl"
        second = api.post("/v2/concurrency_limits/increment", body)
        assert second.status_code == 423
        assert 0 < float(second["Retry-After"]) <= 3

    def test_decrement_gives_slots_back_and_lists_the_limits(self, api, make_limit):
        make_limit("gcl", limit=2)
        api.post("/v2/concurrency_limits/increment", {"names": ["gcl"], "slots": 2})
        response = api.post("/v2/concurrency_limits/decrement", {"names": ["gcl", "x"], "slots": 1, "occupancy_seconds": 1.5})
        assert response.status_code == 200
        assert [limit["name"] for limit in response.data] == ["gcl"]
        assert api.get("/v2/concurrency_limits/gcl").data["active_slots"] == 1

    def test_decrement_of_unknown_names_is_empty(self, api):
        response = api.post("/v2/concurrency_limits/decrement", {"names": ["x"], "slots": 1})
        assert response.status_code == 200 and response.data == []

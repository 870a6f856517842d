"""/api/concurrency_limits: tag limits (v1), a facade over the v2 limit named tag:<tag>."""

import uuid

import pytest


@pytest.fixture
def make_tag_limit(api):
    def make(tag="db", limit=2):
        response = api.post("/concurrency_limits/", {"tag": tag, "concurrency_limit": limit})
        assert response.status_code in (200, 201), response.data
        return response.data

    return make


class TestCreateTagLimit:
    def test_creating_answers_201_with_the_v1_shape(self, api):
        response = api.post("/concurrency_limits/", {"tag": "db", "concurrency_limit": 2})
        assert response.status_code == 201
        assert response.data["tag"] == "db" and response.data["concurrency_limit"] == 2
        assert response.data["active_slots"] == []
        assert set(response.data) == {"id", "created", "updated", "tag", "concurrency_limit", "active_slots"}

    def test_creating_again_updates_and_answers_200(self, api, make_tag_limit):
        first = make_tag_limit("db", 2)
        response = api.post("/concurrency_limits/", {"tag": "db", "concurrency_limit": 4})
        assert response.status_code == 200
        assert response.data["id"] == first["id"] and response.data["concurrency_limit"] == 4

    def test_it_is_backed_by_a_v2_limit_with_the_same_id(self, api, make_tag_limit):
        created = make_tag_limit("db")
        v2 = api.get("/v2/concurrency_limits/tag:db")
        assert v2.status_code == 200 and v2.data["id"] == created["id"]

    @pytest.mark.parametrize("body", [{"tag": "db"}, {"tag": "", "concurrency_limit": 1}, {"tag": "db", "concurrency_limit": -2}])
    def test_invalid_bodies_are_rejected(self, api, body):
        response = api.post("/concurrency_limits/", body)
        assert response.status_code == 422
        assert "detail" in response.data


class TestReadTagLimits:
    def test_read_by_tag_and_by_id(self, api, make_tag_limit):
        created = make_tag_limit("db")
        assert api.get("/concurrency_limits/tag/db").data["id"] == created["id"]
        assert api.get(f"/concurrency_limits/{created['id']}").data["tag"] == "db"

    def test_unknown_tags_and_ids_are_404(self, api):
        assert api.get("/concurrency_limits/tag/nope").status_code == 404
        assert api.get(f"/concurrency_limits/{uuid.uuid4()}").status_code == 404

    def test_a_global_limit_is_not_a_tag_limit(self, api):
        created = api.post("/v2/concurrency_limits/", {"name": "gcl", "limit": 1}).data
        assert api.get(f"/concurrency_limits/{created['id']}").status_code == 404

    def test_filter_lists_only_tag_limits(self, api, make_tag_limit):
        make_tag_limit("db")
        api.post("/v2/concurrency_limits/", {"name": "gcl", "limit": 1})
        response = api.post("/concurrency_limits/filter", {"limit": None, "offset": None})
        assert [limit["tag"] for limit in response.data] == ["db"]


class TestSlots:
    def test_increment_lists_the_task_run_in_active_slots_until_decrement(self, api, make_tag_limit):
        make_tag_limit("db", 1)
        task_run_id = str(uuid.uuid4())
        increment = api.post("/concurrency_limits/increment", {"names": ["db", "free"], "task_run_id": task_run_id})
        assert increment.status_code == 200
        assert [limit["name"] for limit in increment.data] == ["db"]
        assert api.get("/concurrency_limits/tag/db").data["active_slots"] == [task_run_id]

        other = api.post("/concurrency_limits/increment", {"names": ["db"], "task_run_id": str(uuid.uuid4())})
        assert other.status_code == 423 and float(other["Retry-After"]) > 0

        decrement = api.post(
            "/concurrency_limits/decrement", {"names": ["db"], "task_run_id": task_run_id, "occupancy_seconds": 1.0}
        )
        assert decrement.status_code == 200
        assert api.get("/concurrency_limits/tag/db").data["active_slots"] == []

    def test_a_zero_limit_is_locked_without_retry_after(self, api, make_tag_limit):
        make_tag_limit("off", 0)
        response = api.post("/concurrency_limits/increment", {"names": ["off"], "task_run_id": str(uuid.uuid4())})
        assert response.status_code == 423
        assert "Retry-After" not in response
        assert "is 0" in response.data["detail"]

    def test_tagged_tasks_use_the_v2_lease_endpoint_with_the_tag_name(self, api, make_tag_limit):
        make_tag_limit("db", 1)
        holder = {"type": "task_run", "id": str(uuid.uuid4())}
        body = {"names": ["tag:db"], "slots": 1, "mode": "concurrency", "lease_duration": 60, "holder": holder}
        response = api.post("/v2/concurrency_limits/increment-with-lease", body)
        assert response.status_code == 200 and response.data["limits"][0]["name"] == "tag:db"
        assert api.get("/concurrency_limits/tag/db").data["active_slots"] == [holder["id"]]


class TestResetAndDelete:
    def test_reset_frees_the_slots_and_takes_an_override(self, api, make_tag_limit):
        make_tag_limit("db", 3)
        api.post("/concurrency_limits/increment", {"names": ["db"], "task_run_id": str(uuid.uuid4())})
        keeper = str(uuid.uuid4())
        response = api.post("/concurrency_limits/tag/db/reset", {"slot_override": [keeper]})
        assert response.status_code == 200
        assert api.get("/concurrency_limits/tag/db").data["active_slots"] == [keeper]
        assert api.get("/v2/concurrency_limits/tag:db").data["active_slots"] == 1

    def test_reset_with_no_body_frees_everything(self, api, make_tag_limit):
        make_tag_limit("db", 3)
        api.post("/concurrency_limits/increment", {"names": ["db"], "task_run_id": str(uuid.uuid4())})
        assert api.post("/concurrency_limits/tag/db/reset", raw="").status_code == 200
        assert api.get("/v2/concurrency_limits/tag:db").data["active_slots"] == 0

    def test_resetting_an_unknown_tag_is_404(self, api):
        assert api.post("/concurrency_limits/tag/nope/reset", {"slot_override": None}).status_code == 404

    def test_delete_by_tag_and_by_id(self, api, make_tag_limit):
        make_tag_limit("a")
        b = make_tag_limit("b")
        assert api.delete("/concurrency_limits/tag/a").status_code == 200
        assert api.delete(f"/concurrency_limits/{b['id']}").status_code == 200
        assert api.post("/concurrency_limits/filter", {}).data == []
        assert api.delete("/concurrency_limits/tag/a").status_code == 404

import uuid

from django.conf import settings


def log(**fields):
    return {"name": "prefect.flow_runs", "level": 20, "message": "hello", "timestamp": "2026-01-01T00:00:00Z",
            "flow_run_id": None, "task_run_id": None, **fields}


class TestCreateLogs:
    def test_it_stores_a_batch(self, api):
        run_id = str(uuid.uuid4())
        response = api.post("/logs/", [log(message=f"line {i}", flow_run_id=run_id, timestamp=f"2026-01-01T00:00:0{i}Z") for i in range(3)])
        assert response.status_code == 201
        found = api.post("/logs/filter", {"logs": {"flow_run_id": {"any_": [run_id]}}}).data
        assert [line["message"] for line in found] == ["line 0", "line 1", "line 2"]

    def test_it_refuses_an_oversized_batch(self, api):
        response = api.post("/logs/", [log()] * (settings.LOGS_MAX_BATCH + 1))
        assert response.status_code == 422
        assert api.post("/logs/filter", {}).data == []

    def test_it_refuses_a_bad_line_and_stores_nothing(self, api):
        response = api.post("/logs/", [log(), log(level="loud")])
        assert response.status_code == 422
        assert api.post("/logs/filter", {}).data == []


class TestFilterLogs:
    def test_it_filters_by_level_and_text_and_sorts(self, api):
        api.post("/logs/", [
            log(level=10, message="debug noise", timestamp="2026-01-01T00:00:01Z"),
            log(level=40, message="disk full", timestamp="2026-01-01T00:00:02Z"),
            log(level=30, message="disk slow", timestamp="2026-01-01T00:00:03Z"),
        ])
        found = api.post("/logs/filter", {"logs": {"level": {"ge_": 30}}, "sort": "TIMESTAMP_DESC",
                                          "limit": None, "offset": None}).data
        assert [line["message"] for line in found] == ["disk slow", "disk full"]
        searched = api.post("/logs/filter", {"logs": {"text": {"query": "disk -slow"}}}).data
        assert [line["message"] for line in searched] == ["disk full"]

import uuid
from datetime import datetime, timedelta, timezone

import pytest

from runs.domain.events import record_events
from runs.models import Event, TaskRun
from tests.runs.events.helpers import T0, event, iso, task_run_event

pytestmark = pytest.mark.django_db

WINDOW = {"since": iso(T0 - timedelta(hours=1)), "until": iso(T0 + timedelta(hours=1))}


def post(client, path, body):
    return client.post(f"/api{path}", body, content_type="application/json")


class TestCreateEvents:
    def test_it_records_a_list_of_events_and_answers_204(self, client):
        sent = [event("prefect.artifact.created"), task_run_event(uuid.uuid4(), "RUNNING")]
        response = post(client, "/events", sent)
        assert response.status_code == 204
        assert Event.objects.count() == 2
        assert TaskRun.objects.count() == 1

    def test_an_invalid_event_is_a_422_with_detail_and_nothing_is_stored(self, client):
        bad = event()
        bad["resource"] = {"name": "no id"}
        response = post(client, "/events", [event(), bad])
        assert response.status_code == 422
        assert "prefect.resource.id" in str(response.json()["detail"])
        assert Event.objects.count() == 0

    def test_a_body_that_is_not_a_list_is_a_422(self, client):
        assert post(client, "/events", {"event": "x"}).status_code == 422


class TestReadEvents:
    def test_it_returns_a_page_newest_first_with_the_total(self, client):
        sent = [event(f"e.{n}", occurred=T0 + timedelta(seconds=n)) for n in range(3)]
        record_events(sent)
        response = post(client, "/events/filter", {"filter": {"occurred": WINDOW}, "limit": None})
        assert response.status_code == 200
        body = response.json()
        assert body["total"] == 3 and body["next_page"] is None
        assert [e["event"] for e in body["events"]] == ["e.2", "e.1", "e.0"]
        first = body["events"][0]
        assert set(first) == {"occurred", "event", "resource", "related", "payload", "id", "follows", "received"}
        assert first["occurred"] == iso(T0 + timedelta(seconds=2))
        assert first["received"].endswith("Z")

    def test_an_empty_body_reads_recent_events(self, client):
        record_events([event()])
        response = client.post("/api/events/filter", content_type="application/json")
        assert response.status_code == 200
        assert response.json()["total"] == 1

    def test_it_pages_through_matches_with_next_page_links(self, client):
        record_events([event("e.x", occurred=T0 + timedelta(seconds=n)) for n in range(5)])
        record_events([event("other", occurred=T0)])
        body = post(client, "/events/filter", {"filter": {"occurred": WINDOW, "event": {"name": ["e.x"]},
                                                          "order": "ASC"}, "limit": 2}).json()
        seen = [e["occurred"] for e in body["events"]]
        assert body["total"] == 5
        while body["next_page"]:
            assert body["next_page"].startswith("http://testserver/api/events/filter/next?page-token=")
            response = client.get(body["next_page"])
            assert response.status_code == 200
            body = response.json()
            seen += [e["occurred"] for e in body["events"]]
        assert seen == [iso(T0 + timedelta(seconds=n)) for n in range(5)]

    def test_a_tampered_page_token_is_refused(self, client):
        response = client.get("/api/events/filter/next", {"page-token": "bogus"})
        assert response.status_code == 403
        assert response.json() == {"detail": "Invalid page token"}

    @pytest.mark.parametrize("body", [{"limit": 51}, {"limit": -1}, {"filter": {"nope": 1}}])
    def test_bad_queries_are_422(self, client, body):
        response = post(client, "/events/filter", body)
        assert response.status_code == 422
        assert "detail" in response.json()


class TestCountEvents:
    def test_it_counts_by_event_name(self, client):
        record_events([event("a", occurred=T0), event("a", occurred=T0 + timedelta(minutes=1)), event("b", occurred=T0)])
        response = post(client, "/events/count-by/event", {"filter": {"occurred": WINDOW}})
        assert response.status_code == 200
        assert [(c["value"], c["count"]) for c in response.json()] == [("a", 2), ("b", 1)]
        assert response.json()[0]["end_time"] == iso(T0 + timedelta(minutes=1))

    def test_it_counts_by_resource_with_its_name_as_label(self, client):
        record_events([event(resource_id="r.1", labels={"prefect.resource.name": "first"}, occurred=T0)])
        body = post(client, "/events/count-by/resource", {"filter": {"occurred": WINDOW}}).json()
        assert [(c["value"], c["label"], c["count"]) for c in body] == [("r.1", "first", 1)]

    def test_it_counts_by_time_including_empty_spans(self, client):
        record_events([event(occurred=T0 + timedelta(minutes=m)) for m in (0, 1, 1, 5)])
        window = {"since": iso(T0), "until": iso(T0 + timedelta(minutes=5, seconds=59))}
        body = post(client, "/events/count-by/time",
                    {"filter": {"occurred": window}, "time_unit": "minute", "time_interval": 2}).json()
        assert [c["count"] for c in body] == [3, 0, 1]
        assert body[1]["start_time"] == iso(T0 + timedelta(minutes=2))

    def test_an_unknown_countable_is_422(self, client):
        assert post(client, "/events/count-by/colour", {"filter": {}}).status_code == 422

    def test_too_many_time_spans_are_422(self, client):
        now = datetime.now(timezone.utc)
        window = {"since": iso(now - timedelta(days=30)), "until": iso(now)}
        response = post(client, "/events/count-by/time", {"filter": {"occurred": window}, "time_unit": "second"})
        assert response.status_code == 422

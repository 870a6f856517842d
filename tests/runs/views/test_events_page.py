"""The events page: newest first, filters kept in the URL, the live list fragment, one event's page."""

import json
import re
import uuid
from datetime import timedelta
from html import unescape

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from runs.domain.events import record_events

HOSTILE = '<script>alert("x")</script>'


def make_event(name="prefect.flow-run.Completed", *, resource_id=None, resource_name=None, related=(), payload=None,
               ago=timedelta(minutes=1), event_id=None, **resource_labels):
    """Store one event through the domain (as the websocket would) and return its id."""
    event_id = event_id or uuid.uuid4()
    resource = {"prefect.resource.id": resource_id or f"prefect.flow-run.{uuid.uuid4()}", **resource_labels}
    if resource_name is not None:
        resource["prefect.resource.name"] = resource_name
    record_events([{
        "id": str(event_id), "occurred": (timezone.now() - ago).isoformat(), "event": name,
        "resource": resource, "related": list(related), "payload": payload or {},
    }])
    return event_id


def event_names(html: str) -> list[str]:
    """The event names in the list, in order."""
    return [unescape(name) for name in re.findall(r'<a href="/events/[0-9a-f-]{36}/">([^<]*)</a>', html)]


class TestEventList:
    def test_the_page_lists_events_newest_first_with_the_nav_link(self, client):
        make_event("test.old", ago=timedelta(minutes=30))
        make_event("test.new", ago=timedelta(minutes=1))
        make_event("test.middle", ago=timedelta(minutes=10))
        response = client.get("/events/")
        assert response.status_code == 200
        page = response.content.decode()
        assert event_names(page) == ["test.new", "test.middle", "test.old"]
        assert re.search(r'<a href="/events/"\s+aria-current="page">Events</a>', page)
        assert 'id="event-filters"' in page and "1–3 of 3" in page
        # A filter change aborts a poll in flight; a poll waits out a filter change (no stale list last).
        assert 'id="events-page"' in page and 'hx-sync="#events-page:replace"' in page
        assert 'hx-sync="#events-page:drop"' in page

    def test_an_empty_window_says_so(self, client, db):
        page = client.get("/events/").content.decode()
        assert "No events in this time window." in page

    def test_resources_link_to_their_dashboard_pages(self, client):
        run_id, deployment_id, pool_id, flow_id = uuid.uuid4(), uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
        make_event(resource_id=f"prefect.flow-run.{run_id}", resource_name="nightly-run", related=[
            {"prefect.resource.id": f"prefect.flow.{flow_id}", "prefect.resource.role": "flow", "prefect.resource.name": "etl"},
            {"prefect.resource.id": f"prefect.deployment.{deployment_id}", "prefect.resource.role": "deployment"},
            {"prefect.resource.id": f"prefect.work-pool.{pool_id}", "prefect.resource.role": "work-pool",
             "prefect.resource.name": "pool a"},
            {"prefect.resource.id": "prefect.tag.nightly", "prefect.resource.role": "tag"},
            {"prefect.resource.id": "prefect.flow-run.not-a-uuid", "prefect.resource.role": "parent"},
        ])
        page = client.get("/events/").content.decode()
        assert f'href="/runs/{run_id}/"' in page and ">nightly-run</a>" in page
        assert f'href="/flows/{flow_id}/"' in page
        assert f'href="/deployments/deployment/{deployment_id}"' in page
        assert 'href="/work-pools/work-pool/pool%20a"' in page
        assert "tag: prefect.tag.nightly</span>" in page  # not ours: shown without a link
        assert "parent: prefect.flow-run.not-a-uuid</span>" in page  # no run id: no link

    def test_the_list_reads_a_page_in_two_queries_whatever_its_size(self, client):
        for index in range(60):
            make_event(f"test.event-{index}", related=[
                {"prefect.resource.id": f"prefect.flow.{uuid.uuid4()}", "prefect.resource.role": "flow"}])
        with CaptureQueriesContext(connection) as queries:
            assert client.get("/events/").status_code == 200
        assert len(queries.captured_queries) == 2  # the count and the page


class TestFragment:
    def test_the_poll_gets_only_the_list_with_its_filters(self, htmx_client):
        make_event("test.seen")
        response = htmx_client.fragment("/events/?event=test.&window=hour", "event-list")
        assert response.status_code == 200
        html = response.content.decode()
        assert html.lstrip().startswith('<div id="event-list"')
        assert "<html" not in html and 'id="event-filters"' not in html
        assert 'hx-get="/events/?event=test.&amp;window=hour"' in html
        assert 'hx-trigger="every 5s"' in html and 'hx-target="this"' in html
        assert event_names(html) == ["test.seen"]
        assert "HX-Target" in response.headers["Vary"]

    def test_a_new_event_appears_on_the_next_poll(self, htmx_client):
        make_event("test.first")
        assert event_names(htmx_client.fragment("/events/", "event-list").content.decode()) == ["test.first"]
        make_event("test.second", ago=timedelta(seconds=1))
        assert event_names(htmx_client.fragment("/events/", "event-list").content.decode()) == ["test.second", "test.first"]

    def test_older_pages_do_not_poll(self, client):
        for index in range(55):
            make_event(f"test.event-{index:02d}", ago=timedelta(minutes=index + 1))
        first = client.get("/events/").content.decode()
        second = client.get("/events/?page=2").content.decode()
        assert 'hx-trigger="every' in first and 'hx-trigger="every' not in second
        assert event_names(second) == [f"test.event-{index:02d}" for index in range(50, 55)]
        assert 'href="/events/?page=2"' in first


class TestFilters:
    def test_event_name_prefix(self, client):
        make_event("prefect.flow-run.Completed")
        make_event("prefect.task-run.Completed")
        make_event("prefect_flow-run.Lookalike")  # "_" is no wildcard
        page = client.get("/events/?event=prefect.flow-run.").content.decode()
        assert event_names(page) == ["prefect.flow-run.Completed"]
        assert 'name="event" value="prefect.flow-run."' in page
        assert "No events match these filters." in client.get("/events/?event=nothing.").content.decode()

    def test_resource_id_matches_the_events_own_resource_and_related_ones(self, client):
        run = f"prefect.flow-run.{uuid.uuid4()}"
        make_event("test.own", resource_id=run, ago=timedelta(minutes=3))
        make_event("test.related", resource_id=f"prefect.task-run.{uuid.uuid4()}", ago=timedelta(minutes=2),
                   related=[{"prefect.resource.id": run, "prefect.resource.role": "flow-run"}])
        make_event("test.other", ago=timedelta(minutes=1))
        page = client.get(f"/events/?resource={run}").content.decode()
        assert event_names(page) == ["test.related", "test.own"]
        assert f'name="resource" value="{run}"' in page

    def test_time_window(self, client):
        make_event("test.minutes", ago=timedelta(minutes=30))
        make_event("test.hours", ago=timedelta(hours=5))
        make_event("test.days", ago=timedelta(days=3))
        make_event("test.weeks", ago=timedelta(days=20))
        assert event_names(client.get("/events/?window=hour").content.decode()) == ["test.minutes"]
        assert event_names(client.get("/events/").content.decode()) == ["test.minutes", "test.hours"]  # a day
        assert event_names(client.get("/events/?window=week").content.decode()) == ["test.minutes", "test.hours", "test.days"]
        assert len(event_names(client.get("/events/?window=all").content.decode())) == 4

    def test_a_resource_link_without_a_window_shows_the_resources_whole_history(self, client):
        run = f"prefect.flow-run.{uuid.uuid4()}"
        make_event("test.long-ago", resource_id=run, ago=timedelta(days=40))
        page = client.get(f"/events/?resource={run}").content.decode()
        assert event_names(page) == ["test.long-ago"]
        assert '<option value="all" selected>' in page
        assert event_names(client.get(f"/events/?resource={run}&window=day").content.decode()) == []

    def test_filters_are_combined_and_kept_in_the_pager_links(self, client):
        run = f"prefect.flow-run.{uuid.uuid4()}"
        for index in range(51):
            make_event("test.match", resource_id=run, ago=timedelta(seconds=index + 1))
        make_event("test.other-name", resource_id=run)
        page = client.get(f"/events/?event=test.match&resource={run}&window=hour").content.decode()
        assert "1–50 of 51" in page
        assert f'href="/events/?event=test.match&amp;resource={run}&amp;window=hour&amp;page=2"' in page

    @pytest.mark.parametrize("query, message", [
        ("window=month", "Unknown time window"),
        ("page=abc", "Page must be a number"),
        ("page=0", "Page must be 1 or more"),
        ("event=" + "x" * 1025, "at most 1024 characters"),
        ("resource=" + "x" * 1025, "at most 1024 characters"),
    ])
    def test_bad_filters_are_a_400_with_the_reason(self, client, htmx_client, query, message):
        response = client.get(f"/events/?{query}")
        assert response.status_code == 400 and message in response.content.decode()
        fragment = htmx_client.fragment(f"/events/?{query}", "event-list")
        assert fragment.status_code == 400 and message in fragment.content.decode()
        assert "<html" not in fragment.content.decode()


class TestEventPage:
    def test_it_shows_the_event_its_resources_and_its_payload_pretty_printed(self, client):
        run_id = uuid.uuid4()
        earlier = make_event("test.earlier", ago=timedelta(minutes=5))
        event_id = make_event(
            "prefect.flow-run.Failed", resource_id=f"prefect.flow-run.{run_id}", resource_name="my-run",
            related=[{"prefect.resource.id": "prefect.tag.prod", "prefect.resource.role": "tag"}],
            payload={"intended": {"from": "RUNNING", "to": "FAILED"}, "validated_state": {"message": "boom"}},
            **{"prefect.state-type": "FAILED"},
        )
        from runs.models import Event

        Event.objects.filter(id=event_id).update(follows=earlier)
        response = client.get(f"/events/{event_id}/")
        assert response.status_code == 200
        page = response.content.decode()
        assert "<h1>prefect.flow-run.Failed</h1>" in page
        assert f'href="/runs/{run_id}/"' in page and "prefect.state-type" in page
        assert f'href="/events/{earlier}/"' in page
        assert f'href="/events/?resource=prefect.flow-run.{run_id}"' in page
        assert 'href="/events/?resource=prefect.tag.prod"' in page
        payload = re.search(r'<pre class="code">(.*?)</pre>', page, re.S).group(1)
        assert json.loads(unescape(payload)) == {"intended": {"from": "RUNNING", "to": "FAILED"},
                                                 "validated_state": {"message": "boom"}}
        assert '\n  "intended": {\n    "from": "RUNNING",' in unescape(payload)

    def test_an_unknown_event_is_a_404(self, client, db):
        response = client.get(f"/events/{uuid.uuid4()}/")
        assert response.status_code == 404 and "Event not found." in response.content.decode()
        assert client.get("/events/not-a-uuid/").status_code == 404


class TestEscaping:
    def test_names_labels_and_payload_are_shown_as_text(self, client, htmx_client):
        event_id = make_event(
            HOSTILE, resource_id=f"prefect.custom.{HOSTILE}", resource_name=HOSTILE,
            related=[{"prefect.resource.id": f"prefect.tag.{HOSTILE}", "prefect.resource.role": HOSTILE,
                      "prefect.resource.name": HOSTILE}],
            payload={"message": HOSTILE, HOSTILE: [HOSTILE]}, **{"custom.label": HOSTILE},
        )
        pages = [
            client.get("/events/").content.decode(),
            htmx_client.fragment("/events/", "event-list").content.decode(),
            client.get(f"/events/{event_id}/").content.decode(),
            client.get("/events/", {"event": HOSTILE, "resource": HOSTILE, "window": "all"}).content.decode(),
        ]
        for page in pages:
            assert "<script" not in page.lower().replace("<script src", "")  # htmx's own script tag aside
            assert "&lt;script&gt;" in page
        assert "alert(&quot;x&quot;)" in pages[2]


class TestFlowRunPage:
    def test_a_flow_run_page_links_to_its_events(self, client, records):
        run = records.flow_run(states=("PENDING", "RUNNING"))
        page = client.get(f"/runs/{run.id}/").content.decode()
        assert f'href="/events/?resource=prefect.flow-run.{run.id}"' in page
        # The server emitted the run's state-change events: the link shows them.
        events = client.get(f"/events/?resource=prefect.flow-run.{run.id}").content.decode()
        names = event_names(events)
        assert names[0] == "prefect.flow-run.Running" and "prefect.flow-run.Pending" in names[1:]

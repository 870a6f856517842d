from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

from django.utils import timezone

from runs.domain import dashboard


def run_ids(response):
    return [run.id for run in response.context["runs"]]


class TestFlowRunList:
    def test_it_says_so_when_there_are_no_runs(self, client):
        response = client.get("/runs/")
        assert response.status_code == 200
        assert "No flow runs yet." in response.content.decode()

    def test_it_lists_newest_first_with_flow_and_state(self, client, records):
        flow = records.flow(name="etl")
        now = timezone.now()
        old = records.flow_run(flow, name="old", expected_start_time=now - timedelta(hours=2))
        new = records.flow_run(flow, name="new", expected_start_time=now - timedelta(minutes=1))
        response = client.get("/runs/")
        assert run_ids(response) == [new.id, old.id]
        body = response.content.decode()
        assert "etl" in body and "Running" in body

    def test_it_filters_by_state(self, client, records):
        flow = records.flow()
        failed = records.flow_run(flow, states=("RUNNING", "FAILED"))
        crashed = records.flow_run(flow, states=("RUNNING", "CRASHED"))
        records.flow_run(flow, states=("RUNNING", "COMPLETED"))
        assert set(run_ids(client.get("/runs/?state=FAILED&state=CRASHED"))) == {failed.id, crashed.id}

    def test_it_filters_by_flow(self, client, records):
        mine = records.flow_run(records.flow(name="a"))
        records.flow_run(records.flow(name="b"))
        assert run_ids(client.get(f"/runs/?flow={mine.flow_id}")) == [mine.id]

    def test_it_filters_by_any_of_the_tags(self, client, records):
        flow = records.flow()
        tagged = records.flow_run(flow, tags=["nightly", "prod"])
        other = records.flow_run(flow, tags=["dev"])
        records.flow_run(flow, tags=[])
        assert run_ids(client.get("/runs/?tag=prod")) == [tagged.id]
        assert set(run_ids(client.get("/runs/?tag=prod,dev"))) == {tagged.id, other.id}

    def test_it_searches_run_names(self, client, records):
        flow = records.flow()
        wanted = records.flow_run(flow, name="crimson-otter")
        records.flow_run(flow, name="blue-whale")
        assert run_ids(client.get("/runs/?q=OTTER")) == [wanted.id]

    def test_it_filters_by_time_range(self, client, records):
        flow = records.flow()
        now = timezone.now()
        recent = records.flow_run(flow, expected_start_time=now - timedelta(minutes=10))
        records.flow_run(flow, expected_start_time=now - timedelta(days=2))
        assert run_ids(client.get("/runs/?range=1h")) == [recent.id]
        since = (now - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M")
        assert run_ids(client.get(f"/runs/?since={since}")) == [recent.id]
        until = (now - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")
        assert recent.id not in run_ids(client.get(f"/runs/?until={until}"))

    def test_it_sorts_by_name_both_ways(self, client, records):
        flow = records.flow()
        b = records.flow_run(flow, name="b-run")
        a = records.flow_run(flow, name="a-run")
        assert run_ids(client.get("/runs/?sort=name")) == [a.id, b.id]
        assert run_ids(client.get("/runs/?sort=-name")) == [b.id, a.id]

    def test_it_pages_and_links_keep_the_filters(self, client, records):
        flow = records.flow()
        now = timezone.now()
        for index in range(dashboard.PAGE_SIZE + 3):
            records.flow_run(flow, name=f"run-{index:03d}", expected_start_time=now - timedelta(minutes=index), states=())
        first = client.get("/runs/?state=PENDING&sort=newest")
        assert len(first.context["runs"]) == dashboard.PAGE_SIZE
        assert first.context["pager"].total == dashboard.PAGE_SIZE + 3
        body = first.content.decode()
        assert "state=PENDING&amp;sort=newest&amp;page=2" in body
        second = client.get("/runs/?state=PENDING&sort=newest&page=2")
        assert [run.name for run in second.context["runs"]] == ["run-050", "run-051", "run-052"]

    def test_bad_filters_are_a_clear_400(self, client):
        for query, reason in [
            ("state=BOGUS", "Unknown state: BOGUS"),
            ("flow=not-a-uuid", "not a valid id"),
            ("sort=sideways", "Unknown sort"),
            ("range=1y", "Unknown time range"),
            ("page=0", "Page must be 1 or more"),
            ("page=x", "Page must be a number"),
            ("since=yesterday", "is not a date and time"),
        ]:
            response = client.get(f"/runs/?{query}")
            assert response.status_code == 400, query
            assert reason in response.content.decode(), query

    def test_the_list_costs_the_same_queries_for_a_full_page(self, client, records, django_assert_max_num_queries):
        flow = records.flow()
        for _ in range(30):
            records.flow_run(flow, tags=["x"])
        with django_assert_max_num_queries(4):
            client.get("/runs/?tag=x")


class TestFlowRunTableFragment:
    def test_a_filter_change_from_htmx_returns_only_the_table(self, htmx_client, records):
        records.flow_run(records.flow(), states=("RUNNING", "FAILED"))
        response = htmx_client.fragment("/runs/", "run-table", {"state": "FAILED"})
        body = response.content.decode()
        assert body.lstrip().startswith('<div id="run-table">')
        assert "<form" not in body and "<html" not in body
        assert len(response.context["runs"]) == 1

    def test_an_empty_result_says_no_run_matches(self, htmx_client, records):
        records.flow_run(records.flow())
        body = htmx_client.fragment("/runs/", "run-table", {"q": "nothing-like-this"}).content.decode()
        assert "No flow runs match these filters." in body

    def test_the_filter_form_pushes_its_state_into_the_url(self, client):
        body = client.get("/runs/").content.decode()
        assert 'hx-push-url="true"' in body and 'hx-target="#run-table"' in body

    def test_sort_links_keep_the_other_filters(self, client, records):
        records.flow_run(records.flow())
        response = client.get("/runs/?state=RUNNING&q=a&page=1")
        sort_params = parse_qs(urlsplit("?" + response.context["sort_params"]).query)
        assert sort_params == {"state": ["RUNNING"], "q": ["a"]}

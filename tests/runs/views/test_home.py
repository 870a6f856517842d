from datetime import timedelta

import pytest
from django.utils import timezone


class TestHomePage:
    def test_it_shows_an_empty_dashboard_before_any_run(self, client):
        response = client.get("/")
        assert response.status_code == 200
        body = response.content.decode()
        assert "No flow runs in this window." in body
        assert "Nothing is running." in body
        assert "No failed runs." in body

    def test_it_counts_runs_by_state_in_the_window(self, client, records):
        flow = records.flow()
        records.flow_run(flow, states=("RUNNING", "COMPLETED"))
        records.flow_run(flow, states=("RUNNING", "COMPLETED"))
        records.flow_run(flow, states=("RUNNING", "FAILED"))
        records.flow_run(flow, states=("RUNNING", "COMPLETED"), expected_start_time=timezone.now() - timedelta(days=3))
        response = client.get("/?window=day")
        assert response.context["counts"]["COMPLETED"] == 2
        assert response.context["counts"]["FAILED"] == 1
        week = client.get("/?window=week")
        assert week.context["counts"]["COMPLETED"] == 3

    def test_it_draws_the_history_as_inline_svg_stacked_by_state(self, client, records):
        flow = records.flow()
        records.flow_run(flow, states=("RUNNING", "COMPLETED"))
        records.flow_run(flow, states=("RUNNING", "FAILED"))
        body = client.get("/?window=hour").content.decode()
        assert "<svg" in body
        assert 'class="fill-completed"' in body
        assert 'class="fill-failed"' in body

    def test_it_lists_running_runs_and_latest_failures(self, client, records):
        flow = records.flow(name="nightly")
        running = records.flow_run(flow, name="still-going")
        failed = records.flow_run(flow, name="broke", states=("RUNNING", "FAILED"))
        response = client.get("/")
        assert [run.id for run in response.context["active_runs"]] == [running.id]
        assert [run.id for run in response.context["failures"]] == [failed.id]
        body = response.content.decode()
        assert f"/runs/{running.id}/" in body and f"/runs/{failed.id}/" in body

    def test_an_unknown_window_falls_back_to_the_day(self, client):
        assert client.get("/?window=century").context["window"] == "day"

    def test_it_refreshes_itself_with_an_htmx_poll(self, client):
        body = client.get("/").content.decode()
        assert 'hx-trigger="every 5s"' in body
        assert "htmx" in body  # the script is served locally by django-htmx


class TestHomeStatsFragment:
    def test_an_htmx_refresh_returns_only_the_stats_fragment(self, htmx_client, records):
        records.flow_run(states=("RUNNING", "COMPLETED"))
        response = htmx_client.fragment("/", "home-stats", {"window": "hour"})
        body = response.content.decode()
        assert response.status_code == 200
        assert body.lstrip().startswith("<section id=\"home-stats\"")
        assert "<html" not in body and "<nav" not in body
        assert response.context["counts"]["COMPLETED"] == 1

    def test_an_htmx_request_for_another_target_gets_the_whole_page(self, htmx_client):
        body = htmx_client.fragment("/", "something-else").content.decode()
        assert "<html" in body


class TestHomeQueries:
    def test_the_page_costs_a_fixed_number_of_queries(self, client, records, django_assert_max_num_queries):
        flow = records.flow()
        for _ in range(15):
            records.flow_run(flow, states=("RUNNING", "FAILED"))
        for _ in range(5):
            records.flow_run(flow)
        with django_assert_max_num_queries(8):
            client.get("/")


@pytest.mark.parametrize("window", ["hour", "day", "week"])
def test_every_window_renders(client, records, window):
    records.flow_run(states=("RUNNING", "COMPLETED"))
    assert client.get(f"/?window={window}").status_code == 200

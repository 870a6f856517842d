"""runs.domain.dashboard.home_stats: the home page's counts and chart from one grouped query."""

from datetime import datetime, timedelta, timezone

from runs.domain import dashboard
from runs.models import FlowRun

NOW = datetime(2024, 5, 1, 12, 0, tzinfo=timezone.utc)


def place(run, when):
    FlowRun.objects.filter(id=run.id).update(expected_start_time=when)


def test_it_agrees_with_state_counts_and_run_history(records, django_assert_num_queries):
    flow = records.flow()
    for states, when in [
        (("RUNNING", "COMPLETED"), NOW - timedelta(minutes=55)),
        (("RUNNING", "FAILED"), NOW - timedelta(minutes=5)),
        (("RUNNING", "COMPLETED"), NOW - timedelta(minutes=4)),
        (("SCHEDULED",), NOW + timedelta(hours=3)),  # upcoming: counted, not charted
        (("RUNNING", "FAILED"), NOW - timedelta(hours=2)),  # before the window: neither
    ]:
        place(records.flow_run(flow, states=states), when)
    length, width = timedelta(hours=1), timedelta(minutes=10)
    with django_assert_num_queries(1):
        counts, bars = dashboard.home_stats(now=NOW, length=length, width=width)
    assert counts == dashboard.state_counts(since=NOW - length)
    assert counts["COMPLETED"] == 2 and counts["FAILED"] == 1 and counts["SCHEDULED"] == 1
    expected = dashboard.run_history(end=NOW, length=length, width=width)
    assert [bar.counts for bar in bars] == [bar.counts for bar in expected]
    assert [bar.counts for bar in bars] == [{"COMPLETED": 1}, {}, {}, {}, {}, {"FAILED": 1, "COMPLETED": 1}]


def test_the_home_page_shows_the_counts(client, records):
    records.flow_run(records.flow(), states=("RUNNING", "FAILED"))
    response = client.get("/?window=hour")
    assert response.status_code == 200
    assert response.context["counts"]["FAILED"] == 1
    assert sum(bar.total for bar in response.context["chart"]["bars"]) == 1

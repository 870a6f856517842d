"""runs.domain.dashboard: the aggregates behind the pages, computed by the database."""

from datetime import datetime, timedelta, timezone

import pytest

from runs.domain import dashboard
from runs.models import FlowRun

END = datetime(2024, 5, 1, 12, 0, tzinfo=timezone.utc)


def place(run, when):
    FlowRun.objects.filter(id=run.id).update(expected_start_time=when)


class TestRunHistory:
    def test_runs_land_in_their_bucket_by_state(self, records):
        flow = records.flow()
        done_early = records.flow_run(flow, states=("RUNNING", "COMPLETED"))
        failed_early = records.flow_run(flow, states=("RUNNING", "FAILED"))
        done_late = records.flow_run(flow, states=("RUNNING", "COMPLETED"))
        place(done_early, END - timedelta(minutes=59))
        place(failed_early, END - timedelta(minutes=50))
        place(done_late, END - timedelta(seconds=1))
        bars = dashboard.run_history(end=END, length=timedelta(hours=1), width=timedelta(minutes=10))
        assert len(bars) == 6
        assert bars[0].counts == {"COMPLETED": 1}
        assert bars[1].counts == {"FAILED": 1}
        assert [bar.total for bar in bars[2:5]] == [0, 0, 0]
        assert bars[5].counts == {"COMPLETED": 1}

    def test_bucket_edges_belong_to_the_later_bucket_and_the_window_excludes_its_end(self, records):
        flow = records.flow()
        on_edge = records.flow_run(flow)
        at_end = records.flow_run(flow)
        place(on_edge, END - timedelta(minutes=30))
        place(at_end, END)
        bars = dashboard.run_history(end=END, length=timedelta(hours=1), width=timedelta(minutes=30))
        assert [bar.total for bar in bars] == [0, 1]

    def test_the_chart_stacks_bars_within_the_height(self, records):
        flow = records.flow()
        for states in [("RUNNING", "COMPLETED"), ("RUNNING", "COMPLETED"), ("RUNNING", "FAILED")]:
            place(records.flow_run(flow, states=states), END - timedelta(minutes=5))
        bars = dashboard.run_history(end=END, length=timedelta(hours=1), width=timedelta(minutes=10))
        chart = dashboard.history_chart(bars, height=100)
        heights = sorted(float(rect["h"]) for rect in chart["rects"])
        assert heights == pytest.approx([100 / 3, 200 / 3], abs=0.01)
        assert min(float(rect["y"]) for rect in chart["rects"]) == pytest.approx(0, abs=0.01)


class TestStateCounts:
    def test_every_state_is_present_and_old_runs_are_left_out(self, records):
        flow = records.flow()
        records.flow_run(flow, states=("RUNNING", "COMPLETED"))
        old = records.flow_run(flow, states=("RUNNING", "FAILED"))
        place(old, END - timedelta(days=30))
        counts = dashboard.state_counts(since=END - timedelta(days=1))
        assert set(counts) == set(dashboard.STATE_ORDER)
        assert counts["COMPLETED"] == 1 and counts["FAILED"] == 0


class TestTaskTimeline:
    def test_bars_are_placed_relative_to_the_runs_span(self, records):
        run = records.flow_run(records.flow(), states=("RUNNING", "COMPLETED"))
        first = records.task_run(run, name="a", dynamic_key="0")
        second = records.task_run(run, name="b", dynamic_key="1")
        begin = run.start_time
        from runs.models import TaskRun

        TaskRun.objects.filter(id=first.id).update(start_time=begin, end_time=begin + timedelta(seconds=5))
        TaskRun.objects.filter(id=second.id).update(start_time=begin + timedelta(seconds=5),
                                                    end_time=begin + timedelta(seconds=10))
        FlowRun.objects.filter(id=run.id).update(end_time=begin + timedelta(seconds=10))
        run = dashboard.read_flow_run(flow_run_id=run.id)
        rows, total = dashboard.task_runs_with_timeline(run)
        assert total == 2
        assert [(row["bar"]["left"], row["bar"]["width"]) for row in rows] == [(0.0, 50.0), (50.0, 50.0)]
        assert [row["duration"] for row in rows] == [timedelta(seconds=5), timedelta(seconds=5)]

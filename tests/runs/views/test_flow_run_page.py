import uuid
from datetime import timedelta

from django.utils import timezone

from runs.domain import flow_runs


class TestFlowRunPage:
    def test_an_unknown_run_is_a_404(self, client):
        response = client.get(f"/runs/{uuid.uuid4()}/")
        assert response.status_code == 404
        assert "Flow run not found" in response.content.decode()

    def test_it_shows_state_timing_parameters_and_tags(self, client, records):
        run = records.flow_run(
            records.flow(name="etl"), name="quiet-fox", parameters={"day": "2024-01-01", "limit": 5},
            tags=["nightly"], states=("RUNNING", "COMPLETED"),
        )
        response = client.get(f"/runs/{run.id}/")
        assert response.status_code == 200
        body = response.content.decode()
        assert "quiet-fox" in body and "etl" in body and "nightly" in body
        assert "&quot;limit&quot;: 5" in body
        assert response.context["duration"] is not None
        assert response.context["run"].run_count == 1

    def test_the_state_history_is_a_timeline_with_time_spent_in_each_state(self, client, records):
        run = records.flow_run(records.flow(), states=("RUNNING", "FAILED"))
        timeline = client.get(f"/runs/{run.id}/").context["states"]
        assert [entry["state"].type for entry in timeline] == ["PENDING", "RUNNING", "FAILED"]
        assert timeline[0]["lasted"] is not None and timeline[-1]["lasted"] is None

    def test_it_shows_parent_and_child_runs(self, client, records):
        flow = records.flow()
        parent = records.flow_run(flow, name="parent-run")
        parent_task = records.task_run(parent, name="child-flow-task", states=("RUNNING",))
        child = records.flow_run(records.flow(name="sub"), name="child-run", parent_task_run_id=parent_task.id)
        parent_page = client.get(f"/runs/{parent.id}/")
        assert [run.id for run in parent_page.context["children"]] == [child.id]
        child_page = client.get(f"/runs/{child.id}/")
        assert child_page.context["parent"].id == parent.id
        assert f"/runs/{parent.id}/" in child_page.content.decode()

    def test_it_lists_task_runs_with_states_durations_and_a_gantt_bar(self, client, records):
        run = records.flow_run(records.flow())
        first = records.task_run(run, name="extract", dynamic_key="0")
        second = records.task_run(run, name="load", dynamic_key="1", states=("RUNNING",))
        response = client.get(f"/runs/{run.id}/")
        rows = response.context["task_rows"]
        assert {row["task"].id for row in rows} == {first.id, second.id}
        assert all(row["bar"] is not None for row in rows)
        assert all(0 <= row["bar"]["left"] <= 100 and 0 < row["bar"]["width"] <= 100 for row in rows)
        assert response.context["task_total"] == 2
        assert 'class="gantt-bar' in response.content.decode()

    def test_a_run_without_task_runs_says_so(self, client, records):
        run = records.flow_run(records.flow(), states=("RUNNING", "COMPLETED"))
        assert "No task runs." in client.get(f"/runs/{run.id}/").content.decode()

    def test_an_active_run_refreshes_itself_and_a_finished_one_does_not(self, client, records):
        flow = records.flow()
        active = records.flow_run(flow)
        done = records.flow_run(flow, states=("RUNNING", "COMPLETED"))
        assert 'hx-trigger="every 3s"' in client.get(f"/runs/{active.id}/").content.decode()
        assert 'hx-trigger="every 3s"' not in client.get(f"/runs/{done.id}/").content.decode()

    def test_lateness_is_the_delay_after_the_expected_start(self, client, records):
        expected = timezone.now() - timedelta(minutes=10)
        run = records.flow_run(records.flow(), expected_start_time=expected)
        lateness = client.get(f"/runs/{run.id}/").context["lateness"]
        assert abs(lateness - (run.start_time - expected)) < timedelta(seconds=1)

    def test_the_page_costs_a_fixed_number_of_queries(self, client, records, django_assert_max_num_queries):
        run = records.flow_run(records.flow())
        for index in range(20):
            records.task_run(run, name=f"t{index}", dynamic_key=str(index))
        with django_assert_max_num_queries(8):
            client.get(f"/runs/{run.id}/")


class TestFlowRunFragments:
    def test_the_summary_refresh_returns_only_the_summary(self, htmx_client, records):
        run = records.flow_run(records.flow())
        body = htmx_client.fragment(f"/runs/{run.id}/", "run-summary").content.decode()
        assert body.lstrip().startswith('<section id="run-summary"')
        assert "Task runs" not in body and "<html" not in body

    def test_the_task_runs_refresh_returns_only_the_task_table(self, htmx_client, records):
        run = records.flow_run(records.flow())
        records.task_run(run, name="extract")
        body = htmx_client.fragment(f"/runs/{run.id}/", "task-runs").content.decode()
        assert body.lstrip().startswith('<section id="task-runs"')
        assert "extract" in body and "State history" not in body

    def test_an_unknown_run_fragment_is_a_404(self, htmx_client):
        response = htmx_client.fragment(f"/runs/{uuid.uuid4()}/", "run-summary")
        assert response.status_code == 404
        assert "<html" not in response.content.decode()

    def test_a_state_change_shows_on_the_next_refresh(self, htmx_client, records):
        run = records.flow_run(records.flow())
        flow_runs.set_flow_run_state(flow_run_id=run.id, state={"type": "COMPLETED", "name": "Completed",
                                     "message": None, "state_details": {}, "data": None}, force=True)
        body = htmx_client.fragment(f"/runs/{run.id}/", "run-summary").content.decode()
        assert "Completed" in body and "every 3s" not in body


class TestSubflowTaskRuns:
    def test_a_subflows_parent_task_links_to_the_subflow_run(self, client, records):
        parent = records.flow_run(records.flow())
        task = records.task_run(parent, name="child-task", states=("RUNNING",))
        child = records.flow_run(records.flow(name="sub"), parent_task_run_id=task.id)
        rows = client.get(f"/runs/{parent.id}/").context["task_rows"]
        assert [row["subflow"].id for row in rows] == [child.id]

import uuid

from runs.domain import dashboard


def log_lines(response):
    return [line.message for line in response.context["lines"]]


class TestRunLogs:
    def test_it_returns_the_lines_oldest_first(self, htmx_client, records):
        run = records.flow_run(records.flow(), states=("RUNNING", "COMPLETED"))
        records.logs(run, ["one", "two", "three"])
        response = htmx_client.fragment(f"/runs/{run.id}/logs/", "log-lines")
        assert log_lines(response) == ["one", "two", "three"]
        assert "<html" not in response.content.decode()

    def test_a_finished_run_without_logs_says_so(self, htmx_client, records):
        run = records.flow_run(records.flow(), states=("RUNNING", "COMPLETED"))
        assert "This run has no logs." in htmx_client.fragment(f"/runs/{run.id}/logs/", "log-lines").content.decode()

    def test_it_filters_by_minimum_level(self, htmx_client, records):
        run = records.flow_run(records.flow())
        records.logs(run, ["chatter"], level=10)
        records.logs(run, ["warned"], level=30)
        records.logs(run, ["broke"], level=40)
        response = htmx_client.fragment(f"/runs/{run.id}/logs/", "log-lines", {"level": "warning"})
        assert log_lines(response) == ["warned", "broke"]

    def test_it_searches_the_messages(self, htmx_client, records):
        run = records.flow_run(records.flow())
        records.logs(run, ["loaded 10 rows", "connection reset", "loaded 20 rows"])
        response = htmx_client.fragment(f"/runs/{run.id}/logs/", "log-lines", {"q": "loaded"})
        assert log_lines(response) == ["loaded 10 rows", "loaded 20 rows"]

    def test_an_active_run_keeps_following_new_lines_after_the_last_one(self, htmx_client, records):
        run = records.flow_run(records.flow())
        records.logs(run, ["first"])
        response = htmx_client.fragment(f"/runs/{run.id}/logs/", "log-lines")
        assert 'hx-trigger="every 2s"' in response.content.decode()
        after = response.context["next_after"]
        records.logs(run, ["second", "third"])
        follow = htmx_client.fragment(f"/runs/{run.id}/logs/", "log-lines", {"after": after})
        assert log_lines(follow) == ["second", "third"]

    def test_a_finished_run_stops_following(self, htmx_client, records):
        run = records.flow_run(records.flow(), states=("RUNNING", "COMPLETED"))
        records.logs(run, ["done"])
        body = htmx_client.fragment(f"/runs/{run.id}/logs/", "log-lines").content.decode()
        assert "every 2s" not in body

    def test_long_logs_come_in_pages_with_a_load_more_button(self, htmx_client, records):
        run = records.flow_run(records.flow(), states=("RUNNING", "COMPLETED"))
        records.logs(run, [f"line {index}" for index in range(dashboard.LOG_PAGE_SIZE + 2)])
        first = htmx_client.fragment(f"/runs/{run.id}/logs/", "log-lines")
        assert len(first.context["lines"]) == dashboard.LOG_PAGE_SIZE
        assert "Load more lines" in first.content.decode()
        rest = htmx_client.fragment(f"/runs/{run.id}/logs/", "log-lines", {"after": first.context["next_after"]})
        assert log_lines(rest) == [f"line {dashboard.LOG_PAGE_SIZE}", f"line {dashboard.LOG_PAGE_SIZE + 1}"]
        assert "Load more lines" not in rest.content.decode()

    def test_other_runs_lines_are_not_shown(self, htmx_client, records):
        flow = records.flow()
        mine, other = records.flow_run(flow), records.flow_run(flow)
        records.logs(mine, ["mine"])
        records.logs(other, ["theirs"])
        assert log_lines(htmx_client.fragment(f"/runs/{mine.id}/logs/", "log-lines")) == ["mine"]

    def test_bad_parameters_are_a_clear_400(self, htmx_client, records):
        run = records.flow_run(records.flow())
        level = htmx_client.fragment(f"/runs/{run.id}/logs/", "log-lines", {"level": "loud"})
        assert level.status_code == 400 and "Unknown log level: loud" in level.content.decode()
        cursor = htmx_client.fragment(f"/runs/{run.id}/logs/", "log-lines", {"after": "garbage"})
        assert cursor.status_code == 400 and "log position is not valid" in cursor.content.decode()

    def test_logs_of_an_unknown_run_are_a_404(self, htmx_client):
        assert htmx_client.fragment(f"/runs/{uuid.uuid4()}/logs/", "log-lines").status_code == 404


class TestLogFollowFromAnEmptyStart:
    def test_a_follow_up_poll_never_repeats_the_empty_message(self, htmx_client, records):
        run = records.flow_run(records.flow())
        first = htmx_client.fragment(f"/runs/{run.id}/logs/", "log-lines")
        assert "No logs yet" in first.content.decode()
        assert first.context["next_after"] == ""
        flow_runs_done = {"type": "COMPLETED", "name": "Completed", "message": None, "state_details": {}, "data": None}
        from runs.domain import flow_runs

        flow_runs.set_flow_run_state(flow_run_id=run.id, state=flow_runs_done, force=True)
        last = htmx_client.fragment(f"/runs/{run.id}/logs/", "log-lines", {"after": ""})
        assert last.content.decode().strip() == ""

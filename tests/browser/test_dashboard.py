"""A data engineer's walk through the dashboard, in Chromium, against the real server, with runs
made by the real prefect client. Screenshots of every page land in test-artifacts/browser/."""

import signal
import subprocess
import textwrap
import uuid

import pytest
from playwright.sync_api import expect

from tests.e2e.harness import PYTHON, SCRIPT_PREAMBLE, clean_environ, run_flow_script, wait_until

from .conftest import screenshot

pytestmark = pytest.mark.browser

PIPELINE = """
from prefect import flow, task, get_run_logger
from prefect.runtime import flow_run

FLOW = {flow_name!r}

@task
def extract(n):
    get_run_logger().info("extracted %s rows", n)
    return list(range(n))

@task
def load(rows):
    get_run_logger().warning("loading <b>%s</b> rows", len(rows))
    return len(rows)

@flow(name=FLOW + "-child")
def child():
    get_run_logger().info("child flow says hi")
    return 1

@flow(name=FLOW + "-fails")
def fails():
    raise ValueError("boom <script>alert(1)</script>")

@flow(name=FLOW)
def pipeline(n: int = 3):
    get_run_logger().info("starting pipeline")
    rows = extract(n)
    load(rows)
    child()
    return flow_run.id, flow_run.name

run_id, run_name = pipeline(5)
failed = fails(return_state=True)
report(run_id=run_id, run_name=run_name, failed_id=str(failed.state_details.flow_run_id))
"""

SLEEPER = """
import time
from prefect import flow, get_run_logger
from prefect.runtime import flow_run

@flow(name={flow_name!r})
def sleeper():
    get_run_logger().info("sleeping")
    report(run_id=flow_run.id)
    for _ in range(600):
        time.sleep(0.2)

sleeper()
"""


@pytest.fixture(scope="module")
def pipeline_runs(e2e_server, tmp_path_factory):
    """One real pipeline run (tasks, logs, a subflow) and one failed run, fully recorded."""
    flow_name = f"browser-etl-{uuid.uuid4().hex[:8]}"
    outcome = run_flow_script(
        e2e_server.api_url, PIPELINE.format(flow_name=flow_name), workdir=tmp_path_factory.mktemp("flow")
    )
    if outcome.result is None:
        pytest.fail(f"The flow script did not finish cleanly: {outcome.describe()}")
    result = outcome.result
    with e2e_server.client() as api:
        # Task runs and logs arrive asynchronously (events, batched log shipping): wait for them.
        wait_until(lambda: len(api.post("task_runs/filter", json={
            "flow_runs": {"id": {"any_": [result["run_id"]]}}}).json()) >= 3, message="the task runs", timeout=60)
        wait_until(lambda: any("starting pipeline" in line["message"] for line in api.post("logs/filter", json={
            "logs": {"flow_run_id": {"any_": [result["run_id"]]}}}).json()), message="the logs", timeout=60)
    return {**result, "flow_name": flow_name}


class TestDashboardWalkthrough:
    def test_home_shows_the_failure_and_leads_to_its_run(self, page, dashboard_url, pipeline_runs):
        page.goto(dashboard_url + "/")
        expect(page.locator("#state-counts")).to_be_visible()
        expect(page.locator("svg.chart")).to_be_visible()
        failure = page.locator(f'a[href="/runs/{pipeline_runs["failed_id"]}/"]')
        expect(failure).to_be_visible()
        screenshot(page, "01-home")
        failure.click()
        expect(page.locator("#run-summary .badge").first).to_have_text("Failed")
        expect(page.locator("#run-summary")).to_contain_text("boom <script>alert(1)</script>")  # shown as text
        screenshot(page, "02-failed-run")

    def test_the_run_list_finds_the_run_and_its_page_shows_tasks_and_logs(self, page, dashboard_url, pipeline_runs):
        page.goto(dashboard_url + "/runs/")
        page.fill('#run-filters input[name="q"]', pipeline_runs["run_name"])
        page.wait_for_url("**q=**")  # the search is in the address bar once the list has updated
        run_link = page.locator("#run-table a.run-link", has_text=pipeline_runs["run_name"])
        expect(run_link).to_have_count(1)
        run_link.click()
        page.wait_for_url(f"**/runs/{pipeline_runs['run_id']}/")
        expect(page.locator("#run-summary .badge").first).to_have_text("Completed")
        tasks = page.locator("#task-runs")
        expect(tasks).to_contain_text("extract")
        expect(tasks).to_contain_text("load")
        expect(tasks.locator(".gantt-bar").first).to_be_visible()
        expect(page.locator(".facts")).to_contain_text(pipeline_runs["flow_name"] + "-child")  # its subflow run
        logs = page.locator("#log-lines")
        expect(logs).to_contain_text("starting pipeline")
        expect(logs).to_contain_text("loading <b>5</b> rows")  # markup in a log line is text
        screenshot(page, "03-run-page")

        page.select_option('#log-filters select[name="level"]', "warning")
        expect(logs).not_to_contain_text("starting pipeline")
        expect(logs).to_contain_text("loading <b>5</b> rows")
        page.fill('#log-filters input[name="q"]', "no-such-line-anywhere")
        expect(logs).to_contain_text("No log lines match.")

    def test_filters_update_the_list_in_place_and_stay_in_the_url(self, page, dashboard_url, pipeline_runs):
        page.goto(dashboard_url + "/runs/")
        page.evaluate("window.__same_page = true")
        page.locator("#run-filters label.pick", has_text="Failed").click()
        page.wait_for_url("**state=FAILED**")
        table = page.locator("#run-table")
        expect(table.locator(f'a[href="/runs/{pipeline_runs["failed_id"]}/"]')).to_be_visible()
        expect(table.locator(f'a[href="/runs/{pipeline_runs["run_id"]}/"]')).to_have_count(0)
        assert page.evaluate("window.__same_page") is True  # updated by HTMX, not reloaded
        screenshot(page, "04-run-list-filtered")

        page.goto(page.url)  # the bookmarked URL shows the same filtered list
        expect(page.locator('#run-filters input[value="FAILED"]')).to_be_checked()
        expect(page.locator(f'#run-table a[href="/runs/{pipeline_runs["run_id"]}/"]')).to_have_count(0)

    def test_flows_list_and_flow_page(self, page, dashboard_url, pipeline_runs):
        page.goto(dashboard_url + "/flows/")
        page.fill('input[name="q"]', pipeline_runs["flow_name"])
        link = page.locator("#flow-table a", has_text=pipeline_runs["flow_name"]).first
        expect(link).to_be_visible()
        screenshot(page, "05-flows")
        page.locator("#flow-table tr", has_text=pipeline_runs["flow_name"] + "-fails").locator("a").first.click()
        expect(page.locator(f'#run-table a[href="/runs/{pipeline_runs["failed_id"]}/"]')).to_be_visible()
        screenshot(page, "06-flow-page")

    def test_the_layout_works_on_a_phone_in_dark_mode(self, browser, dashboard_url, pipeline_runs):
        context = browser.new_context(viewport={"width": 390, "height": 844}, color_scheme="dark", is_mobile=True)
        try:
            phone = context.new_page()
            phone.goto(dashboard_url + f"/runs/{pipeline_runs['run_id']}/")
            expect(phone.locator("#log-lines")).to_contain_text("starting pipeline")
            background = phone.evaluate("getComputedStyle(document.body).backgroundColor")
            assert background == "rgb(15, 18, 22)"  # the dark palette follows the system setting
            # Nothing wider than the screen: no sideways scrolling of the whole page.
            assert phone.evaluate("document.documentElement.scrollWidth") <= 390 + 1
            screenshot(phone, "07-phone-dark-run-page")
        finally:
            context.close()


def start_flow_script(tmp_path, e2e_server, source: str):
    """Start a flow script that reports its run id first (`report(run_id=...)`); return (process, run id)."""
    script = tmp_path / "flow_script.py"
    script.write_text(SCRIPT_PREAMBLE + textwrap.dedent(source))
    environ = clean_environ(PREFECT_API_URL=e2e_server.api_url, PREFECT_HOME=str(tmp_path / "home"), PYTHONUNBUFFERED="1")
    process = subprocess.Popen([PYTHON, str(script)], cwd=tmp_path, env=environ, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, text=True)
    for line in process.stdout:
        if line.startswith("E2E_RESULT "):
            return process, line.split('"run_id": "')[1].split('"')[0]
    process.kill()
    raise AssertionError(f"the flow script never reported its run (exit {process.wait()})")


class TestCancelFromTheDashboard:
    def test_a_running_run_is_cancelled_and_reaches_cancelled(self, page, dashboard_url, e2e_server, tmp_path):
        # The flow runs in its own process; this test plays the part of the process's supervisor
        # (what `flow.serve()` / a worker does): on Cancelling it stops the process and reports Cancelled.
        process, run_id = start_flow_script(tmp_path, e2e_server, SLEEPER.format(flow_name=f"sleeper-{uuid.uuid4().hex[:8]}"))
        try:
            with e2e_server.client() as api:
                wait_until(lambda: api.get(f"flow_runs/{run_id}").json()["state_type"] == "RUNNING", message="Running")

                page.goto(dashboard_url + f"/runs/{run_id}/")
                badge = page.locator("#run-summary .badge").first
                expect(badge).to_have_text("Running")
                screenshot(page, "08-running-run")
                page.get_by_role("button", name="Cancel run").click()  # the confirm dialog is accepted
                expect(page.locator(".message-success")).to_contain_text("Cancellation requested.")
                expect(page.locator("#run-summary .badge").first).to_have_text("Cancelling")

                process.send_signal(signal.SIGKILL)
                process.wait(timeout=30)
                response = api.post(f"flow_runs/{run_id}/set_state", json={
                    "state": {"type": "CANCELLED", "name": "Cancelled", "message": "Stopped by its supervisor."},
                    "force": True,
                })
                assert response.status_code in (200, 201), response.text
            # The open page refreshes itself: no reload needed to see the outcome.
            expect(page.locator("#run-summary .badge").first).to_have_text("Cancelled", timeout=20_000)
            expect(page.get_by_role("button", name="Cancel run")).to_have_count(0)
            screenshot(page, "09-cancelled-run")
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()


ASKS_FOR_APPROVAL = """
from pydantic import Field
from prefect import flow
from prefect.flow_runs import pause_flow_run
from prefect.input import RunInput
from prefect.runtime import flow_run


class Approval(RunInput):
    approver: str
    copies: int = Field(1, ge=1, description="How many copies to load")


@flow(name={flow_name!r})
def asks_for_approval():
    report(run_id=flow_run.id)
    answer = pause_flow_run(wait_for_input=Approval.with_initial_data(description="Approve the <load>?"),
                            timeout=120, poll_interval=1)
    return f"{{answer.approver}} x{{answer.copies}}"


state = asks_for_approval(return_state=True)
report(result=state.result(), state=state.type.value)
"""


class TestResumeWithInputFromTheDashboard:
    def test_a_run_waiting_for_input_is_resumed_with_the_form_on_its_page(self, page, dashboard_url, e2e_server, tmp_path):
        process, run_id = start_flow_script(
            tmp_path, e2e_server, ASKS_FOR_APPROVAL.format(flow_name=f"approval-{uuid.uuid4().hex[:8]}"))
        try:
            with e2e_server.client() as api:
                wait_until(lambda: api.get(f"flow_runs/{run_id}").json()["state_type"] == "PAUSED", message="Paused")

            page.goto(dashboard_url + f"/runs/{run_id}/")
            panel = page.locator("#resume-panel")
            expect(panel).to_contain_text("Approve the <load>?")
            expect(panel.get_by_label("Copies")).to_have_value("1")
            panel.get_by_label("Approver").fill("Ada")
            panel.get_by_label("Copies").fill("0")
            panel.get_by_role("button", name="Resume").click()
            expect(page.locator("#input-copies-error")).to_have_text("0 is less than the minimum of 1")
            expect(panel.get_by_label("Approver")).to_have_value("Ada")  # what was typed stays
            screenshot(page, "10-resume-form-with-an-error")

            panel.get_by_label("Copies").fill("2")
            panel.get_by_role("button", name="Resume").click()
            expect(page.locator(".message-success")).to_contain_text("Flow run resumed.")
            output, _ = process.communicate(timeout=120)
            assert process.returncode == 0, output
            assert '"result": "Ada x2"' in output and '"state": "COMPLETED"' in output
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()

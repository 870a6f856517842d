"""Deployments with the real client: `flow.serve()` picking up scheduled and CLI-started runs,
cancelling a served run from another process, and pausing a run until it is resumed with input."""

import os
import signal
import subprocess
import textwrap
import uuid
from datetime import datetime, timedelta

import pytest

from .harness import PYTHON, SCRIPT_PREAMBLE, clean_environ, process_tree, wait_until

pytestmark = pytest.mark.e2e

SERVED = """\
import os
import time
from datetime import datetime, timedelta, timezone

from prefect import flow
from prefect.schedules import Interval


# The flow process of each run imports this file again: settings come from the environment.
@flow(name=os.environ["E2E_FLOW_NAME"])
def sleepy(seconds: float = 0, label: str = "none"):
    time.sleep(seconds)
    return label


if __name__ == "__main__":
    from prefect import serve
    from prefect.client.schemas.objects import ConcurrencyLimitConfig

    # First scheduled slot a few seconds from now, then hourly.
    anchor = datetime.now(timezone.utc) + timedelta(seconds=20)
    serve(
        sleepy.to_deployment(name="served", schedules=[Interval(3600, anchor_date=anchor)]),
        sleepy.to_deployment(
            name="one-at-a-time",
            concurrency_limit=ConcurrencyLimitConfig(limit=1, collision_strategy="ENQUEUE"),
        ),
    )
"""


def client_environ(api_url: str, home) -> dict:
    return clean_environ(
        PREFECT_API_URL=api_url, PREFECT_HOME=str(home), PREFECT_RUNNER_POLL_FREQUENCY="2",
        PREFECT_SERVER_ALLOW_EPHEMERAL_MODE="false", PYTHONUNBUFFERED="1",
    )


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            for pid in process_tree(process.pid):
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            process.kill()
            process.wait()


@pytest.fixture(scope="module")
def served(e2e_server, tmp_path_factory):
    """One `flow.serve()` process for the module: its flow name, deployment and environment."""
    workdir = tmp_path_factory.mktemp("served")
    (workdir / "served_flow.py").write_text(SERVED)
    flow_name = f"e2e-served-{uuid.uuid4().hex[:8]}"
    environ = {**client_environ(e2e_server.api_url, workdir / "home"), "E2E_FLOW_NAME": flow_name}
    output = open(workdir / "serve.out", "wb")
    process = subprocess.Popen(
        [PYTHON, "served_flow.py"], cwd=workdir, env=environ,
        stdout=output, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
    )
    with e2e_server.client() as api:
        def deployment(name):
            if process.poll() is not None:
                raise AssertionError((workdir / "serve.out").read_text())
            response = api.get(f"deployments/name/{flow_name}/{name}")
            return response.json() if response.status_code == 200 else None

        found = wait_until(lambda: deployment("served"), timeout=90, message="the served deployment")
        limited = wait_until(lambda: deployment("one-at-a-time"), timeout=30, message="the limited deployment")
        try:
            yield {"flow_name": flow_name, "deployment": found, "environ": environ, "workdir": workdir,
                   "process": process,
                   "limited": limited}
        finally:
            stop(process)
            output.close()


def read_run(api, run_id) -> dict:
    return api.get(f"flow_runs/{run_id}").json()


def wait_for_state(api, run_id, state_type, timeout=120):
    return wait_until(
        lambda: (run := read_run(api, run_id))["state_type"] == state_type and run,
        timeout=timeout, interval=0.5, message=f"run {run_id} to be {state_type}",
    )


class TestServe:
    def test_serve_creates_the_deployment_with_its_schedule_and_upcoming_runs(self, api, served):
        deployment = served["deployment"]
        assert deployment["schedules"][0]["schedule"]["interval"] == 3600.0
        runs = api.post("flow_runs/filter", json={
            "deployments": {"id": {"any_": [deployment["id"]]}},
            "flow_runs": {"state": {"type": {"any_": ["SCHEDULED", "PENDING", "RUNNING", "COMPLETED"]}}},
        }).json()
        assert sum(run["auto_scheduled"] for run in runs) >= 3

    def test_the_scheduled_run_is_picked_up_and_completes_on_time(self, api, served):
        deployment = served["deployment"]
        first = api.post("flow_runs/filter", json={
            "deployments": {"id": {"any_": [deployment["id"]]}}, "sort": "EXPECTED_START_TIME_ASC", "limit": 1,
            "flow_runs": {"auto_scheduled": None},
        }).json()[0]
        assert first["auto_scheduled"]
        done = wait_for_state(api, first["id"], "COMPLETED", timeout=150)
        # Not before its slot (the server holds back a start more than half a second early).
        started, expected = (datetime.fromisoformat(done["start_time"]),
                             datetime.fromisoformat(first["expected_start_time"]))
        assert started >= expected - timedelta(seconds=0.5)
        assert started - expected < timedelta(seconds=60)

    def test_prefect_deployment_run_starts_a_run_the_served_process_executes(self, api, served):
        completed = subprocess.run(
            [os.path.join(os.path.dirname(PYTHON), "prefect"), "deployment", "run",
             f"{served['flow_name']}/served", "-p", "label=from-cli"],
            env=served["environ"], capture_output=True, text=True, timeout=120, cwd=served["workdir"],
        )
        assert completed.returncode == 0, completed.stdout + completed.stderr
        runs = api.post("flow_runs/filter", json={
            "deployments": {"id": {"any_": [served["deployment"]["id"]]}},
            "flow_runs": {"state": {"type": {"any_": ["SCHEDULED", "PENDING", "RUNNING", "COMPLETED"]}}},
        }).json()
        manual = [run for run in runs if run["parameters"].get("label") == "from-cli"]
        assert len(manual) == 1
        wait_for_state(api, manual[0]["id"], "COMPLETED", timeout=150)

    def test_cancelling_a_running_served_run_stops_it(self, api, served):
        run = api.post(f"deployments/{served['deployment']['id']}/create_flow_run",
                       json={"parameters": {"seconds": 300, "label": "long"}}).json()
        wait_for_state(api, run["id"], "RUNNING", timeout=150)
        response = api.post(f"flow_runs/{run['id']}/set_state",
                            json={"state": {"type": "CANCELLING", "name": "Cancelling"}, "force": False})
        assert response.json()["status"] == "ACCEPT"
        cancelled = wait_for_state(api, run["id"], "CANCELLED", timeout=90)
        assert cancelled["end_time"]


class TestDeploymentConcurrency:
    def test_with_limit_one_and_enqueue_the_second_run_waits_for_the_first(self, api, served):
        deployment = served["limited"]
        assert deployment["concurrency_limit"] == 1
        runs = [
            api.post(f"deployments/{deployment['id']}/create_flow_run",
                     json={"parameters": {"seconds": 6, "label": label}}).json()
            for label in ("first", "second")
        ]
        done = [wait_for_state(api, run["id"], "COMPLETED", timeout=180) for run in runs]
        earlier, later = sorted(done, key=lambda run: run["start_time"])
        assert later["start_time"] >= earlier["end_time"]
        names = [state["name"] for state in api.get(f"flow_run_states/?flow_run_id={later['id']}").json()]
        assert "AwaitingConcurrencySlot" in names


PAUSING = """\
from prefect import flow
from prefect.flow_runs import pause_flow_run
from prefect.runtime import flow_run


@flow(name="{name}")
def asks_for_a_number():
    answer = pause_flow_run(wait_for_input=int, timeout=120, poll_interval=1)
    return answer * 2


state = asks_for_a_number(return_state=True)
report(result=state.result(), state=state.type.value)
"""


class TestPauseAndResume:
    def test_a_paused_run_resumes_with_input_from_the_api(self, api, e2e_server, tmp_path):
        name = f"e2e-pausing-{uuid.uuid4().hex[:8]}"
        script = tmp_path / "pausing.py"
        script.write_text(SCRIPT_PREAMBLE + textwrap.dedent(PAUSING.format(name=name)))
        process = subprocess.Popen(
            [PYTHON, str(script)], cwd=tmp_path, env=client_environ(e2e_server.api_url, tmp_path / "home"),
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, text=True,
        )
        try:
            def paused_run():
                assert process.poll() is None, process.stdout.read()
                runs = api.post("flow_runs/filter", json={"flows": {"name": {"any_": [name]}}}).json()
                return runs[0] if runs and runs[0]["state_type"] == "PAUSED" else None

            run = wait_until(paused_run, timeout=120, interval=0.5, message="the run to pause")
            keyset = run["state"]["state_details"]["run_input_keyset"]
            assert keyset and api.get(f"flow_runs/{run['id']}/input/{keyset['schema']}").status_code == 200

            wrong = api.post(f"flow_runs/{run['id']}/resume", json={"run_input": {"value": "many"}})
            assert wrong.json()["status"] == "REJECT"
            assert read_run(api, run["id"])["state_type"] == "PAUSED"

            resumed = api.post(f"flow_runs/{run['id']}/resume", json={"run_input": {"value": 21}})
            assert resumed.status_code == 201 and resumed.json()["status"] == "ACCEPT"
            output, _ = process.communicate(timeout=120)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
        assert process.returncode == 0, output
        assert '"result": 42' in output and '"state": "COMPLETED"' in output

    def test_resuming_a_run_that_is_not_paused_aborts(self, api, run_flow):
        outcome = run_flow("""
            from prefect import flow
            from prefect.runtime import flow_run

            @flow
            def quick():
                return flow_run.id

            report(run_id=quick())
        """)
        response = api.post(f"flow_runs/{outcome.result['run_id']}/resume", json={})
        assert response.status_code == 200 and response.json()["status"] == "ABORT"

"""A process work pool served by `prefect worker start`, against a real server.

One server and one worker serve the module: a deployment stored at a local path runs to Completed,
a long run cancelled with `prefect flow-run cancel` ends Cancelled with its process gone, and a run
whose process dies without a word (SIGKILL) is marked Crashed by crashed-run detection.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import textwrap
import uuid

import httpx
import pytest

from .harness import (
    PYTHON,
    ROOT,
    Database,
    ServeProcess,
    clean_environ,
    e2e_backend,
    free_port,
    is_alive,
    new_home,
    wait_until,
)

pytestmark = pytest.mark.timeout(300)

FLOWS = '''\
import time

from prefect import flow, task


@task
def add(x, y):
    return x + y


@flow(log_prints=True)
def quick(n: int = 1):
    print("quick run", n)
    return add(n, 1)


@flow
def slow(seconds: int = 240):
    for _ in range(seconds):
        time.sleep(1)


if __name__ == "__main__":
    slow()
'''


class Setup:
    def __init__(self, server: ServeProcess, database: Database, home):
        self.server, self.database, self.home = server, database, home
        self.project = home / "project"
        self.project.mkdir()
        (self.project / "flows.py").write_text(FLOWS)
        self.pool = f"pool-{uuid.uuid4().hex[:6]}"

    def client_env(self, **extra) -> dict:
        return clean_environ(
            PREFECT_API_URL=self.server.api_url, PREFECT_HOME=str(self.home / "client"),
            PREFECT_SERVER_ALLOW_EPHEMERAL_MODE="false", PYTHONUNBUFFERED="1", **extra,
        )

    def prefect(self, *args, timeout=120) -> subprocess.CompletedProcess:
        done = subprocess.run(
            [str(ROOT / ".venv/bin/prefect"), *args], env=self.client_env(), cwd=self.home,
            capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL,
        )
        assert done.returncode == 0, f"prefect {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}"
        return done

    def python(self, source: str, timeout=120) -> str:
        done = subprocess.run(
            [PYTHON, "-c", textwrap.dedent(source)], env=self.client_env(), cwd=self.project,
            capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL,
        )
        assert done.returncode == 0, f"script failed:\n{done.stdout}\n{done.stderr}"
        return done.stdout

    def deploy(self, entrypoint: str, name: str) -> str:
        out = self.python(f"""
            from prefect import flow
            deployment_id = flow.from_source({str(self.project)!r}, {entrypoint!r}).deploy(
                name={name!r}, work_pool_name={self.pool!r}, print_next_steps=False)
            print("DEPLOYMENT", deployment_id)
        """)
        return out.split("DEPLOYMENT", 1)[1].split()[0]

    def run_deployment(self, deployment_id: str) -> str:
        response = self.api().post(f"deployments/{deployment_id}/create_flow_run", json={})
        assert response.status_code == 201, response.text
        return response.json()["id"]

    def api(self) -> httpx.Client:
        return httpx.Client(base_url=self.server.api_url + "/", timeout=30)

    def flow_run(self, run_id: str) -> dict:
        with self.api() as api:
            return api.get(f"flow_runs/{run_id}").json()

    def wait_for_state(self, run_id: str, *state_types: str, timeout=120) -> dict:
        return wait_until(
            lambda: (run := self.flow_run(run_id))["state_type"] in state_types and run,
            timeout=timeout, interval=0.5, message=f"flow run {run_id} to reach {state_types}",
        )


def stop_process_group(process: subprocess.Popen) -> None:
    """Stop a process we started in its own session, and everything it started."""
    if process.poll() is None:
        try:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        except ProcessLookupError:
            pass


@pytest.fixture(scope="module")
def setup():
    home = new_home("e2e-workers-")
    database = Database.create(e2e_backend(), home)
    # Services off: the test drives crashed-run detection itself instead of waiting for its schedule.
    server = ServeProcess(
        home=home, port=free_port(), args=["--workers", "1", "--no-services"],
        env={"PREFECT_API_DATABASE_CONNECTION_URL": database.url, "PREFECT_SERVER_LOGGING_LEVEL": "WARNING"},
    )
    try:
        server.start()
        server.wait_healthy()
        yield Setup(server, database, home)
    finally:
        if server.process is not None:
            server.stop()
        database.drop()
        shutil.rmtree(home, ignore_errors=True)


@pytest.fixture(scope="module")
def worker(setup):
    setup.prefect("work-pool", "create", setup.pool, "--type", "process")
    log = open(setup.home / "worker.out", "wb")
    process = subprocess.Popen(
        [str(ROOT / ".venv/bin/prefect"), "worker", "start", "--pool", setup.pool, "--name", "e2e-worker"],
        env=setup.client_env(PREFECT_WORKER_QUERY_SECONDS="1", PREFECT_WORKER_PREFETCH_SECONDS="5"),
        cwd=setup.home, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
    )
    try:
        with setup.api() as api:
            wait_until(
                lambda: api.post(f"work_pools/{setup.pool}/workers/filter",
                                 json={"workers": {"status": {"any_": ["ONLINE"]}}}).json(),
                timeout=60, message="the worker to come online",
            )
        yield process
    finally:
        stop_process_group(process)
        log.close()


def worker_output(setup) -> str:
    return (setup.home / "worker.out").read_text(errors="replace")[-4000:]


class TestProcessWorker:
    def test_a_deployment_at_a_local_path_runs_to_completion(self, setup, worker):
        deployment_id = setup.deploy("flows.py:quick", "quick")
        run_id = setup.run_deployment(deployment_id)
        try:
            run = setup.wait_for_state(run_id, "COMPLETED", "FAILED", "CRASHED")
        except AssertionError:
            pytest.fail(f"run did not finish; worker output:\n{worker_output(setup)}")
        assert run["state_type"] == "COMPLETED", worker_output(setup)
        assert run["infrastructure_pid"]
        assert run["labels"]["prefect.worker.name"] == "e2e-worker"
        with setup.api() as api:
            pool = api.get(f"work_pools/{setup.pool}").json()
            queue = api.get(f"work_pools/{setup.pool}/queues/default").json()
            deployment = api.get(f"deployments/{deployment_id}").json()
        assert pool["status"] == "READY"
        assert queue["status"] == "READY" and queue["last_polled"]
        assert deployment["status"] == "READY"

    def test_a_cancelled_run_ends_cancelled_and_its_process_is_gone(self, setup, worker):
        deployment_id = setup.deploy("flows.py:slow", "slow")
        run_id = setup.run_deployment(deployment_id)
        run = setup.wait_for_state(run_id, "RUNNING")
        pid = int(run["infrastructure_pid"].rsplit(":", 1)[-1])
        assert is_alive(pid)

        setup.prefect("flow-run", "cancel", run_id)
        run = setup.wait_for_state(run_id, "CANCELLED", timeout=90)
        assert run["state_name"] == "Cancelled"
        wait_until(lambda: not is_alive(pid), timeout=30, message=f"process {pid} to exit")


class TestCrashedRunDetection:
    def test_a_run_whose_heartbeats_stop_becomes_crashed(self, setup):
        log = open(setup.home / "silent.out", "wb")
        process = subprocess.Popen(
            [PYTHON, "flows.py"], cwd=setup.project, stdout=log, stderr=subprocess.STDOUT,
            env=setup.client_env(PREFECT_FLOWS_HEARTBEAT_FREQUENCY="30"), stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        try:
            with setup.api() as api:
                def heartbeat_of_a_running_run():
                    runs = api.post("flow_runs/filter", json={
                        "flows": {"name": {"any_": ["slow"]}},
                        "flow_runs": {"state": {"type": {"any_": ["RUNNING"]}}, "deployment_id": {"is_null_": True}},
                    }).json()
                    if not runs:
                        return None
                    beats = api.post("events/filter", json={"filter": {
                        "event": {"name": ["prefect.flow-run.heartbeat"]},
                        "resource": {"id": [f"prefect.flow-run.{runs[0]['id']}"]},
                    }}).json()
                    return runs[0]["id"] if beats["events"] else None

                run_id = wait_until(heartbeat_of_a_running_run, timeout=90, interval=0.5,
                                    message="a heartbeat from the running flow")
            os.killpg(process.pid, signal.SIGKILL)  # no final state, no more heartbeats
            process.wait()
        finally:
            stop_process_group(process)
            log.close()

        detect = subprocess.run(
            [PYTHON, str(ROOT / "manage.py"), "shell", "-c",
             "from runs.services.crashed_runs import run_crashed_run_detection as d; print(d())"],
            cwd=ROOT, capture_output=True, text=True, timeout=60,
            env=clean_environ(
                PREFECT_HOME=str(setup.home), PREFECT_API_DATABASE_CONNECTION_URL=setup.database.url,
                PREFECT_SERVER_SERVICES_CRASHED_RUNS_HEARTBEAT_TIMEOUT_SECONDS="0",
            ),
        )
        assert detect.returncode == 0, detect.stderr
        run = setup.flow_run(run_id)
        assert (run["state_type"], run["state_name"]) == ("CRASHED", "Crashed"), detect.stdout

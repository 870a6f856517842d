"""Background tasks with the real client: `task.delay()` in one process, `serve(task)` in another.

Both processes share one PREFECT_HOME, where the client keeps a delayed run's parameters (the
server only carries their id). The shared server runs two web workers, so the worker's subscription
and the client's requests may well land in different server processes.
"""

from __future__ import annotations

import subprocess

import pytest

from .harness import PYTHON, clean_environ, run_flow_script, wait_until

pytestmark = pytest.mark.timeout(120)

TASKS = '''\
from prefect import task


@task
def add(a, b):
    return a + b
'''

WORKER = '''\
from prefect.task_worker import serve

from bgtasks import add

serve(add)
'''


def task_workers(client, task_key=None):
    body = {"task_worker_filter": {"task_keys": [task_key]}} if task_key else {}
    response = client.post("task_workers/filter", json=body)
    assert response.status_code == 200, response.text
    return response.json()


def task_run(client, task_run_id):
    response = client.get(f"task_runs/{task_run_id}")
    assert response.status_code == 200, response.text
    return response.json()


@pytest.fixture
def workdir(e2e_server, tmp_path):
    (tmp_path / "bgtasks.py").write_text(TASKS)
    return tmp_path


def start_worker(api_url, workdir):
    (workdir / "worker.py").write_text(WORKER)
    environ = clean_environ(
        PREFECT_API_URL=api_url, PREFECT_HOME=str(workdir / "client-home"), PYTHONUNBUFFERED="1",
        PREFECT_SERVER_ALLOW_EPHEMERAL_MODE="false",
    )
    output = open(workdir / "worker.out", "wb")
    return subprocess.Popen(
        [PYTHON, "worker.py"], cwd=workdir, env=environ, stdout=output, stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
    )


def stop_worker(process):
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def test_delayed_runs_reach_a_task_worker_and_their_results_come_back(e2e_server, workdir):
    client = e2e_server.client()

    # Scheduled while no task worker is connected: the run waits in the database.
    scheduled = run_flow_script(e2e_server.api_url, '''
        from bgtasks import add

        future = add.delay(1, 2)
        report(task_run_id=str(future.task_run_id), task_key=add.task_key)
    ''', workdir=workdir)
    assert scheduled.returncode == 0 and scheduled.result, scheduled.describe()
    early_id, task_key = scheduled.result["task_run_id"], scheduled.result["task_key"]
    early = task_run(client, early_id)
    assert (early["state_type"], early["flow_run_id"]) == ("SCHEDULED", None)
    assert early["state"]["state_details"]["deferred"] is True
    assert early["state"]["state_details"]["task_parameters_id"]  # the client's, carried untouched
    assert task_workers(client, task_key) == []

    worker = start_worker(e2e_server.api_url, workdir)
    try:
        listed = wait_until(lambda: task_workers(client, task_key), timeout=30, message="the task worker listed")
        assert listed[0]["task_keys"] == [task_key] and listed[0]["identifier"].endswith(f"-{worker.pid}")
        assert task_workers(client, "some-other-task-key") == []

        done = wait_until(
            lambda: task_run(client, early_id)["state_type"] == "COMPLETED", timeout=30,
            message="the run scheduled before the worker connected to complete",
        )
        assert done

        # While the worker is connected: .result() waits for it, also from inside a flow.
        result = run_flow_script(e2e_server.api_url, '''
            from prefect import flow

            from bgtasks import add


            @flow
            def fan_out():
                futures = [add.delay(n, 10) for n in range(3)]
                return [future.result(timeout=60) for future in futures]


            outside = add.delay(2, 3)
            report(outside=outside.result(timeout=60), inside=fan_out(), task_run_id=str(outside.task_run_id))
        ''', workdir=workdir)
        assert result.returncode == 0 and result.result, result.describe()
        assert (result.result["outside"], result.result["inside"]) == (5, [10, 11, 12])
        assert task_run(client, result.result["task_run_id"])["state_name"] == "Completed"
    finally:
        stop_worker(worker)
        log = (workdir / "worker.out").read_text(errors="replace")
    assert "Traceback" not in log, log[-4000:]
    wait_until(lambda: task_workers(client, task_key) == [], timeout=20, message="the stopped worker unlisted")

"""Concurrency limits and results with the real client against the real server.

Shown here: two processes racing 50 tagged tasks under a tag limit of 5 and a global limit of 3
never exceed either; the slot of a killed holder comes back when its lease expires; a rate limit
spaces calls; persisted flow results are read back from another process.
"""

import json
import signal
import subprocess
import textwrap
import time
import uuid

import pytest

from .harness import PYTHON, SCRIPT_PREAMBLE, clean_environ, run_flow_script, wait_until

pytestmark = pytest.mark.e2e

CLIENT_LEASE_SECONDS = 60  # the shortest lease the API accepts


def ok(response, status: int = 200):
    assert response.status_code == status, f"{response.request.method} {response.request.url}: {response.status_code} {response.text}"
    return response.json() if response.content else None


def max_overlap(intervals) -> int:
    """The largest number of [start, end) intervals open at one moment."""
    edges = sorted([(start, 1) for start, _ in intervals] + [(end, -1) for _, end in intervals])
    open_now = peak = 0
    for _, step in edges:
        open_now += step
        peak = max(peak, open_now)
    return peak


def start_script(api_url: str, source: str, workdir, name: str) -> subprocess.Popen:
    workdir.mkdir(parents=True, exist_ok=True)
    script = workdir / f"{name}.py"
    script.write_text(SCRIPT_PREAMBLE + textwrap.dedent(source))
    environ = clean_environ(
        PREFECT_API_URL=api_url, PREFECT_HOME=str(workdir / "client-home"),
        PREFECT_SERVER_ALLOW_EPHEMERAL_MODE="false", PYTHONUNBUFFERED="1",
    )
    return subprocess.Popen(
        [PYTHON, str(script)], cwd=workdir, env=environ, stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )


class TestFiftyTasksUnderATagLimitAndAGlobalLimit:
    def test_no_limit_is_ever_exceeded_by_two_racing_processes(self, e2e_server, api, tmp_path):
        tag, limit_name = f"cc-{uuid.uuid4().hex[:8]}", f"gcl-{uuid.uuid4().hex[:8]}"
        ok(api.post("/concurrency_limits/", json={"tag": tag, "concurrency_limit": 5}), 201)
        ok(api.post("/v2/concurrency_limits/", json={"name": limit_name, "limit": 3}), 201)
        source = f"""
            import time
            from prefect import flow, task
            from prefect.concurrency.sync import concurrency
            from prefect.task_runners import ThreadPoolTaskRunner

            @task(tags=[{tag!r}])
            def work(i):
                tagged_start = time.time()
                time.sleep(0.1)
                with concurrency({limit_name!r}):
                    global_start = time.time()
                    time.sleep(0.1)
                    global_end = time.time()
                time.sleep(0.05)
                return [tagged_start, time.time(), global_start, global_end]

            @flow(task_runner=ThreadPoolTaskRunner(max_workers=25))
            def race():
                return [future.result() for future in [work.submit(i) for i in range(25)]]

            report(intervals=race())
        """
        processes = [start_script(e2e_server.api_url, source, tmp_path / f"p{n}", "race") for n in range(2)]
        intervals = []
        for process in processes:
            output, _ = process.communicate(timeout=300)
            assert process.returncode == 0, output[-6000:]
            line = [line for line in output.splitlines() if line.startswith("E2E_RESULT ")][-1]
            intervals += json.loads(line[len("E2E_RESULT "):])["intervals"]

        assert len(intervals) == 50
        tagged = max_overlap([(a, b) for a, b, _, _ in intervals])
        global_ = max_overlap([(c, d) for _, _, c, d in intervals])
        assert 2 <= tagged <= 5
        assert 2 <= global_ <= 3
        # Every slot was given back.
        assert ok(api.get(f"/v2/concurrency_limits/{limit_name}"))["active_slots"] == 0
        assert ok(api.get(f"/v2/concurrency_limits/tag:{tag}"))["active_slots"] == 0
        assert ok(api.get(f"/concurrency_limits/tag/{tag}"))["active_slots"] == []


class TestLeaseOfAKilledHolder:
    def test_the_slot_comes_back_when_the_lease_expires(self, e2e_server, api, tmp_path):
        name = f"gcl-{uuid.uuid4().hex[:8]}"
        ok(api.post("/v2/concurrency_limits/", json={"name": name, "limit": 1}), 201)
        holder = start_script(e2e_server.api_url, f"""
            import time
            from prefect.concurrency.sync import concurrency

            with concurrency({name!r}, lease_duration={CLIENT_LEASE_SECONDS}):
                print("HOLDING", flush=True)
                time.sleep(600)
        """, tmp_path, "holder")
        try:
            for line in holder.stdout:
                if line.startswith("HOLDING"):
                    break
            else:
                pytest.fail("the holder never got its slot")
            acquired_at = time.monotonic()
            holder.send_signal(signal.SIGKILL)
            holder.wait(timeout=10)
        finally:
            if holder.poll() is None:
                holder.kill()
                holder.wait()

        body = {"names": [name], "slots": 1, "mode": "concurrency", "lease_duration": 60}
        assert ok(api.get(f"/v2/concurrency_limits/{name}"))["active_slots"] == 1
        assert api.post("/v2/concurrency_limits/increment-with-lease", json=body).status_code == 423

        def acquired():
            response = api.post("/v2/concurrency_limits/increment-with-lease", json=body)
            return response.json() if response.status_code == 200 else None

        granted = wait_until(acquired, timeout=CLIENT_LEASE_SECONDS + 30, interval=1.0, message="the expired slot")
        assert time.monotonic() - acquired_at >= CLIENT_LEASE_SECONDS - 15  # the renewed lease, not a leak
        assert granted["limits"][0]["name"] == name
        ok(api.post("/v2/concurrency_limits/decrement-with-lease", json={"lease_id": granted["lease_id"]}), 204)


class TestRateLimit:
    def test_calls_are_spaced_by_the_slot_decay(self, e2e_server, api, run_flow):
        name = f"rl-{uuid.uuid4().hex[:8]}"
        ok(api.post("/v2/concurrency_limits/", json={"name": name, "limit": 1, "slot_decay_per_second": 2.0}), 201)
        outcome = run_flow(f"""
            import time
            from prefect.concurrency.sync import rate_limit

            stamps = []
            for _ in range(6):
                rate_limit({name!r})
                stamps.append(time.time())
            report(gaps=[later - earlier for earlier, later in zip(stamps, stamps[1:])])
        """)
        gaps = outcome.result["gaps"]
        assert sum(gaps) >= 5 * 0.5 * 0.9  # two calls a second at most
        assert sum(gaps) < 10  # and the waiting client is let in promptly
        assert min(gaps) > 0.3


class TestPersistedResults:
    def test_flow_and_task_results_are_read_back_from_another_process(self, e2e_server, tmp_path):
        flow_name = f"results-{uuid.uuid4().hex[:8]}"
        first = run_flow_script(e2e_server.api_url, f"""
            from prefect import flow, task

            @task(persist_result=True)
            def double(x):
                return {{"value": x * 2}}

            @flow(name={flow_name!r}, persist_result=True)
            def compute():
                return [double(1), double(2)]

            state = compute(return_state=True)
            report(flow_run_id=state.state_details.flow_run_id, result=state.result())
        """, workdir=tmp_path)
        assert first.returncode == 0 and first.result, first.describe()
        assert first.result["result"] == [{"value": 2}, {"value": 4}]

        again = run_flow_script(e2e_server.api_url, f"""
            from prefect import get_client

            with get_client(sync_client=True) as client:
                run = client.read_flow_run({first.result["flow_run_id"]!r})
                report(state=run.state.type.value, result=run.state.result())
        """, workdir=tmp_path)
        assert again.returncode == 0 and again.result, again.describe()
        assert again.result == {"state": "COMPLETED", "result": [{"value": 2}, {"value": 4}]}

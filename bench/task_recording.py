"""Delay from the end of a flow that maps many tasks until the server has recorded all its task runs.

Tasks make no HTTP calls of their own: their states travel as events over the /events/in websocket, and
the server turns them into task runs. The flow runs in a subprocess (a real flow process, with
PREFECT_API_URL set); once it reports its end, we poll POST /task_runs/count for its run until the count
reaches the number of tasks.
"""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from prefect.client.orchestration import get_client

from measure import ErrorTally, rounded

FLOW_SCRIPT = Path(__file__).with_name("flow_with_many_tasks.py")
POLL_INTERVAL_S = 0.05


async def measure_task_recording(
    api_url: str, task_count: int, flow_timeout_s: float, record_timeout_s: float
) -> dict[str, Any]:
    errors = ErrorTally()
    result: dict[str, Any] = {"bench": "tasks", "tasks": task_count}
    with tempfile.TemporaryDirectory(prefix="bench-flow-home-") as flow_home, tempfile.TemporaryFile() as stderr:
        environment = {**os.environ, "PREFECT_API_URL": api_url, "PREFECT_HOME": flow_home}
        flow_process = await asyncio.create_subprocess_exec(
            sys.executable, str(FLOW_SCRIPT), str(task_count),
            stdout=asyncio.subprocess.PIPE, stderr=stderr, env=environment,
        )
        try:
            flow_run_id, flow_seconds, flow_ended_at = await asyncio.wait_for(
                _read_markers(flow_process), timeout=flow_timeout_s
            )
        except (asyncio.TimeoutError, RuntimeError) as error:
            flow_process.kill()
            await flow_process.wait()
            errors.record(f"FlowFailed: {str(error) or 'timed out'}; stderr: {_tail(stderr)}")
            return {**result, "recorded_after_s": None, **errors.as_fields()}

        # The client may still be sending events while its process shuts down, so note when it exits too.
        process_exit = asyncio.create_task(_seconds_until_exit(flow_process, flow_ended_at))
        counted, recorded_after = await _poll_until_recorded(
            flow_run_id, task_count, flow_ended_at, record_timeout_s, errors
        )
        try:
            exited_after = await asyncio.wait_for(process_exit, timeout=60)
        except asyncio.TimeoutError:
            flow_process.kill()
            await flow_process.wait()
            exited_after = None
        if flow_process.returncode != 0:
            errors.record(f"FlowExit: code {flow_process.returncode}; stderr: {_tail(stderr)}")

    print(f"tasks: {counted}/{task_count} recorded, {recorded_after} s after the flow ended", file=sys.stderr)
    return {
        **result,
        "flow_run_id": flow_run_id,
        "flow_s": rounded(flow_seconds, 2),
        "recorded_after_s": rounded(recorded_after, 2),
        "recorded": counted,
        "process_exited_after_s": rounded(exited_after, 2),
        **errors.as_fields(),
    }


async def _read_markers(flow_process: asyncio.subprocess.Process) -> tuple[str, float, float]:
    """Return the flow run id, the flow's duration and the moment its end was reported."""
    flow_run_id = None
    flow_started_at = None
    assert flow_process.stdout is not None
    async for raw_line in flow_process.stdout:
        line = raw_line.decode().strip()
        if line.startswith("FLOW_RUN_ID "):
            flow_run_id = line.split(" ", 1)[1]
            flow_started_at = time.perf_counter()
        elif line == "FLOW_ENDED":
            ended_at = time.perf_counter()
            if flow_run_id is None:
                raise RuntimeError("the flow ended without reporting its run id")
            return flow_run_id, ended_at - flow_started_at, ended_at
    await flow_process.wait()
    raise RuntimeError(f"the flow process exited with code {flow_process.returncode} before its end")


async def _seconds_until_exit(flow_process: asyncio.subprocess.Process, flow_ended_at: float) -> float:
    await flow_process.wait()
    return time.perf_counter() - flow_ended_at


async def _poll_until_recorded(
    flow_run_id: str, task_count: int, flow_ended_at: float, timeout_s: float, errors: ErrorTally
) -> tuple[int, float | None]:
    body = {"task_runs": {"flow_run_id": {"any_": [flow_run_id]}}}
    counted = 0
    async with get_client() as client:
        while time.perf_counter() - flow_ended_at < timeout_s:
            try:
                response = await client.request("POST", "/task_runs/count", json=body)
                counted = response.json()
            except Exception as error:
                errors.record(error)
                if errors.count > 20:
                    break
            else:
                if counted >= task_count:
                    return counted, time.perf_counter() - flow_ended_at
            await asyncio.sleep(POLL_INTERVAL_S)
    errors.record(f"Timeout: {counted}/{task_count} task runs recorded {timeout_s:.0f} s after the flow ended")
    return counted, None


def _tail(stream: Any, size: int = 1500) -> str:
    stream.seek(0, os.SEEK_END)
    stream.seek(max(0, stream.tell() - size))
    return stream.read().decode("utf-8", "replace").replace("\n", " | ")

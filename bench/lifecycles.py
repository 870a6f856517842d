"""Flow-run lifecycles per second at a given concurrency, with the real client's async API.

One lifecycle is what a worker plus a flow process make the server do for a trivial run:
create the run (Scheduled), propose Pending, Running, send three logs in one batch, propose Completed.
That is create_flow_run + set_flow_run_state x3 + create_logs. Every proposal must be ACCEPTed;
anything else counts as an error.
"""

from __future__ import annotations

import asyncio
import sys
import time
from datetime import datetime, timezone
from typing import Any

import httpx
from prefect import flow
from prefect.client.orchestration import get_client
from prefect.states import Completed, Pending, Running, Scheduled

from measure import ErrorTally, percentile, rounded


@flow(name="bench-lifecycle")
def bench_lifecycle() -> None:
    """Never executed; the flow object only gives create_flow_run its name, version and retry policy."""


class LifecycleRejected(Exception):
    """The server answered a proposal with something other than ACCEPT."""


async def run_lifecycle(client: Any) -> None:
    flow_run = await client.create_flow_run(bench_lifecycle, state=Scheduled())
    for state in (Pending(), Running()):
        await _propose(client, flow_run.id, state)
    now = datetime.now(timezone.utc).isoformat()
    await client.create_logs(
        [
            {
                "name": "bench",
                "level": 20,
                "message": f"lifecycle log {number}",
                "timestamp": now,
                "flow_run_id": str(flow_run.id),
                "task_run_id": None,
            }
            for number in range(3)
        ]
    )
    await _propose(client, flow_run.id, Completed())


async def _propose(client: Any, flow_run_id: Any, state: Any) -> None:
    result = await client.set_flow_run_state(flow_run_id, state)
    if result.status.value != "ACCEPT":
        raise LifecycleRejected(
            f"set_state {state.type.value} answered {result.status.value}: {result.details}"
        )


async def measure_lifecycles(
    concurrency: int, max_lifecycles: int, duration_s: float, grace_s: float
) -> dict[str, Any]:
    """Keep `concurrency` lifecycles in flight until `max_lifecycles` started or `duration_s` passed.

    Lifecycles still running `grace_s` after the duration are cancelled and counted as errors, so a
    stalled server cannot hang the benchmark.
    """
    # The client caps its pool at 16 connections by default; size it so the concurrency is real.
    limits = httpx.Limits(
        max_connections=concurrency, max_keepalive_connections=concurrency, keepalive_expiry=25
    )
    latencies: list[float] = []
    errors = ErrorTally()
    started = 0

    async with get_client(httpx_settings={"limits": limits}) as client:
        await client.create_flow(bench_lifecycle)  # once, also warms the version check and CSRF probe
        begin = time.perf_counter()
        stop_starting_at = begin + duration_s

        async def keep_one_in_flight() -> None:
            nonlocal started
            while started < max_lifecycles and time.perf_counter() < stop_starting_at:
                started += 1
                lifecycle_began = time.perf_counter()
                try:
                    await run_lifecycle(client)
                except Exception as error:  # every failure is counted and described
                    errors.record(error)
                else:
                    latencies.append(time.perf_counter() - lifecycle_began)

        lanes = [asyncio.create_task(keep_one_in_flight()) for _ in range(concurrency)]
        _, unfinished = await asyncio.wait(lanes, timeout=duration_s + grace_s)
        for lane in unfinished:
            lane.cancel()
        await asyncio.gather(*unfinished, return_exceptions=True)
        elapsed = time.perf_counter() - begin

    abandoned = started - len(latencies) - errors.count
    for _ in range(abandoned):
        errors.record(f"Timeout: lifecycle unfinished {grace_s:.0f} s after the {duration_s:.0f} s run")
    print(
        f"lifecycles c={concurrency}: {len(latencies)} ok, {errors.count} errors in {elapsed:.1f} s",
        file=sys.stderr,
    )
    return {
        "bench": "lifecycles",
        "concurrency": concurrency,
        "per_second": rounded(len(latencies) / elapsed, 2),
        "p50_s": rounded(percentile(latencies, 0.50)),
        "p95_s": rounded(percentile(latencies, 0.95)),
        "completed": len(latencies),
        "elapsed_s": rounded(elapsed, 2),
        **errors.as_fields(),
    }

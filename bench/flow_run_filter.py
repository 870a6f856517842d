"""Latency of POST /flow_runs/filter (limit 50) with many flow runs stored.

Seeds flow runs with concurrent create_flow_run calls only when fewer than the target exist, then times
sequential read_flow_runs calls. The timing includes the client's parsing of the 50 runs, as a user sees it.
"""

from __future__ import annotations

import asyncio
import sys
import time
from typing import Any

import httpx
from prefect import flow
from prefect.client.orchestration import get_client

from measure import ErrorTally, percentile, rounded


@flow(name="bench-filter-seed")
def bench_filter_seed() -> None:
    """Never executed; names the flow the seeded runs belong to."""


async def measure_flow_run_filter(
    stored_target: int, calls: int, page_size: int, seed_concurrency: int, seed_timeout_s: float
) -> dict[str, Any]:
    errors = ErrorTally()
    limits = httpx.Limits(max_connections=seed_concurrency, max_keepalive_connections=seed_concurrency)
    async with get_client(httpx_settings={"limits": limits}) as client:
        stored = await client.count_flow_runs()
        seeded, seed_seconds, seed_errors = 0, 0.0, ErrorTally()
        if stored < stored_target:
            seeded, seed_seconds = await _seed(
                client, stored_target - stored, seed_concurrency, seed_timeout_s, seed_errors
            )
            stored = await client.count_flow_runs()

        for _ in range(5):  # warm connections and caches; not timed
            await client.read_flow_runs(limit=page_size)
        latencies: list[float] = []
        for _ in range(calls):
            call_began = time.perf_counter()
            try:
                runs = await client.read_flow_runs(limit=page_size)
            except Exception as error:
                errors.record(error)
                continue
            latencies.append(time.perf_counter() - call_began)
            if len(runs) != min(page_size, stored):
                errors.record(f"WrongPage: got {len(runs)} runs, expected {min(page_size, stored)}")

    print(f"filter: {len(latencies)} calls over {stored} runs", file=sys.stderr)
    return {
        "bench": "filter",
        "stored_runs": stored,
        "limit": page_size,
        "calls": len(latencies),
        "p50_s": rounded(percentile(latencies, 0.50)),
        "p95_s": rounded(percentile(latencies, 0.95)),
        "seeded": seeded,
        "seed_per_second": rounded(seeded / seed_seconds, 1) if seed_seconds else None,
        **errors.as_fields(),
        **{f"seed_{name}": value for name, value in seed_errors.as_fields().items()},
    }


async def _seed(
    client: Any, missing: int, concurrency: int, timeout_s: float, errors: ErrorTally
) -> tuple[int, float]:
    """Create `missing` runs with `concurrency` calls in flight; stop starting new ones after `timeout_s`."""
    print(f"filter: seeding {missing} flow runs", file=sys.stderr)
    await client.create_flow(bench_filter_seed)
    begin = time.perf_counter()
    remaining = missing
    created = 0

    async def create_some() -> None:
        nonlocal remaining, created
        while remaining > 0 and time.perf_counter() - begin < timeout_s:
            remaining -= 1
            try:
                await client.create_flow_run(bench_filter_seed)
            except Exception as error:
                errors.record(error)
            else:
                created += 1
                if created % 1000 == 0:
                    print(f"filter: seeded {created}/{missing}", file=sys.stderr)

    await asyncio.gather(*(create_some() for _ in range(concurrency)))
    return created, time.perf_counter() - begin

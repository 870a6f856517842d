"""Benchmark a Prefect-compatible API server with the real prefect client; prints one JSON line per result.

    .venv/bin/python bench/run.py --api-url http://127.0.0.1:4200/api [--only lifecycles,tasks,filter]

Only servers on this machine are accepted: the benchmark writes thousands of runs.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
from urllib.parse import urlsplit

BENCHES = ("lifecycles", "tasks", "filter")
LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1"}


def parse_arguments(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--api-url", required=True, help="e.g. http://127.0.0.1:4200/api")
    parser.add_argument("--only", default=",".join(BENCHES), help="comma-separated subset of " + ",".join(BENCHES))
    parser.add_argument("--label", help="added to every result line, e.g. ours-sqlite or reference-postgres")
    lifecycles = parser.add_argument_group("lifecycles")
    lifecycles.add_argument("--concurrency", default="10,50,100", help="levels to run, comma-separated")
    lifecycles.add_argument("--lifecycles", type=int, default=500, help="at most this many per level")
    lifecycles.add_argument("--duration", type=float, default=20.0, help="stop starting new lifecycles after this")
    lifecycles.add_argument("--grace", type=float, default=120.0, help="then wait this long for those in flight")
    tasks = parser.add_argument_group("tasks")
    tasks.add_argument("--tasks", type=int, default=500, help="tasks mapped by the flow")
    tasks.add_argument("--flow-timeout", type=float, default=300.0)
    tasks.add_argument("--record-timeout", type=float, default=120.0)
    flow_filter = parser.add_argument_group("filter")
    flow_filter.add_argument("--stored-runs", type=int, default=10_000, help="seed flow runs up to this many")
    flow_filter.add_argument("--filter-calls", type=int, default=200)
    flow_filter.add_argument("--filter-limit", type=int, default=50)
    flow_filter.add_argument("--seed-concurrency", type=int, default=10, help="create_flow_run calls in flight")
    flow_filter.add_argument("--seed-timeout", type=float, default=900.0, help="stop seeding after this")
    arguments = parser.parse_args(argv)

    arguments.api_url = arguments.api_url.rstrip("/")
    if urlsplit(arguments.api_url).hostname not in LOCAL_HOSTS:
        parser.error("--api-url must point at this machine (127.0.0.1)")
    arguments.only = [name.strip() for name in arguments.only.split(",") if name.strip()]
    unknown = set(arguments.only) - set(BENCHES)
    if unknown:
        parser.error(f"unknown benchmark(s): {', '.join(sorted(unknown))}")
    arguments.concurrency = [int(level) for level in arguments.concurrency.split(",")]
    return arguments


def configure_client(api_url: str, client_home: str) -> None:
    """Point the prefect client at the server under test, before prefect reads its settings.

    A throw-away PREFECT_HOME keeps a user's profile (which could name another API URL) out of the way.
    """
    os.environ["PREFECT_API_URL"] = api_url
    os.environ["PREFECT_HOME"] = client_home
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")


async def run_benchmarks(arguments: argparse.Namespace) -> None:
    from flow_run_filter import measure_flow_run_filter
    from lifecycles import measure_lifecycles
    from measure import emit
    from task_recording import measure_task_recording

    def labelled(result: dict) -> dict:
        return {"label": arguments.label, **result} if arguments.label else result

    if "lifecycles" in arguments.only:
        for concurrency in arguments.concurrency:
            emit(labelled(await measure_lifecycles(
                concurrency, arguments.lifecycles, arguments.duration, arguments.grace
            )))
    if "tasks" in arguments.only:
        emit(labelled(await measure_task_recording(
            arguments.api_url, arguments.tasks, arguments.flow_timeout, arguments.record_timeout
        )))
    if "filter" in arguments.only:
        emit(labelled(await measure_flow_run_filter(
            arguments.stored_runs, arguments.filter_calls, arguments.filter_limit,
            arguments.seed_concurrency, arguments.seed_timeout,
        )))


def main(argv: list[str] | None = None) -> None:
    arguments = parse_arguments(argv)
    with tempfile.TemporaryDirectory(prefix="bench-client-home-") as client_home:
        configure_client(arguments.api_url, client_home)
        sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
        asyncio.run(run_benchmarks(arguments))


if __name__ == "__main__":
    main()

"""A real flow mapping N tasks, run in its own process by the task-recording benchmark.

It prints marker lines on stdout that the benchmark reads: the flow run id when the flow starts, and
FLOW_ENDED right after the flow has returned (its Completed state is then accepted by the server).
"""

import sys

from prefect import flow, task
from prefect.runtime import flow_run


@task
def square(number: int) -> int:
    return number * number


@flow(name="bench-many-tasks")
def map_many_tasks(task_count: int) -> int:
    print(f"FLOW_RUN_ID {flow_run.id}", flush=True)
    squares = square.map(range(task_count)).result()
    return len(squares)


if __name__ == "__main__":
    map_many_tasks(int(sys.argv[1]))
    print("FLOW_ENDED", flush=True)

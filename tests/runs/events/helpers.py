"""Events shaped like the ones the prefect client sends."""

import asyncio
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone

from asgiref.testing import ApplicationCommunicator
from channels.db import database_sync_to_async
from django.db import connections

from runs.models import Flow, FlowRun

T0 = datetime(2026, 1, 1, 12, 0, 0, tzinfo=timezone.utc)


def iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def make_flow_run(name="parent") -> FlowRun:
    flow, _ = Flow.objects.get_or_create(name=name)
    return FlowRun.objects.create(flow=flow, name=f"{name}-run", total_run_time=timedelta(0))


def event(name="test.event", resource_id="test.resource.1", related=(), occurred=None, **extra):
    return {
        "occurred": iso(occurred or datetime.now(timezone.utc)),
        "event": name,
        "resource": {"prefect.resource.id": resource_id, **extra.pop("labels", {})},
        "related": list(related),
        "payload": extra.pop("payload", {}),
        "id": str(extra.pop("id", uuid.uuid4())),
        "follows": None,
        **extra,
    }


def task_run_event(
    task_run_id,
    state_type,
    state_name=None,
    *,
    flow_run_id=None,
    at=0.0,
    task_key="add-f71",
    dynamic_key="0",
    run_count=1,
    state_id=None,
    state_details=None,
):
    """One state change of a task run, as the client emits it (`at` seconds after T0)."""
    state_name = state_name or state_type.title()
    occurred = T0 + timedelta(seconds=at)
    related = []
    if flow_run_id:
        related.append(
            {"prefect.resource.id": f"prefect.flow-run.{flow_run_id}", "prefect.resource.role": "flow-run",
             "prefect.resource.name": "parent-run"}
        )
    task_run = {
        "name": f"{task_key}-{dynamic_key}",
        "task_key": task_key,
        "dynamic_key": dynamic_key,
        "empirical_policy": {"max_retries": 2, "retry_delay_seconds": 0.0, "retries": 2, "retry_delay": 0},
        "tags": ["t1"],
        "labels": {},
        "task_inputs": {"x": []},
        "run_count": run_count,
        "flow_run_run_count": 1,
        "expected_start_time": iso(T0),
        "total_run_time": 0.5 * run_count,
    }
    if state_type in ("RUNNING", "COMPLETED", "FAILED"):
        task_run["start_time"] = iso(T0)
    if state_type in ("COMPLETED", "FAILED"):
        task_run["end_time"] = iso(occurred)
    return {
        "occurred": iso(occurred),
        "event": f"prefect.task-run.{state_name}",
        "resource": {
            "prefect.resource.id": f"prefect.task-run.{task_run_id}",
            "prefect.resource.name": task_run["name"],
            "prefect.run-count": str(run_count),
            "prefect.state-message": "",
            "prefect.state-name": state_name,
            "prefect.state-timestamp": occurred.isoformat(),
            "prefect.state-type": state_type,
            "prefect.orchestration": "client",
        },
        "related": related,
        "payload": {
            "intended": {"from": None, "to": state_type},
            "initial_state": None,
            "validated_state": {
                "type": state_type,
                "name": state_name,
                "message": "",
                "state_details": state_details or {},
                "data": None,
            },
            "task_run": task_run,
        },
        "id": str(state_id or uuid.uuid4()),
        "follows": None,
    }


def retried_task_events(task_run_id, flow_run_id):
    """The 7 states of a task that fails twice and then succeeds."""
    steps = [
        ("PENDING", "Pending", 1),
        ("RUNNING", "Running", 1),
        ("SCHEDULED", "AwaitingRetry", 1),
        ("RUNNING", "Retrying", 2),
        ("SCHEDULED", "AwaitingRetry", 2),
        ("RUNNING", "Retrying", 3),
        ("COMPLETED", "Completed", 3),
    ]
    return [
        task_run_event(task_run_id, state_type, name, flow_run_id=flow_run_id, at=index, run_count=count)
        for index, (state_type, name, count) in enumerate(steps)
    ]


class WebsocketClient(ApplicationCommunicator):
    """Drives an ASGI websocket app in-process (channels.testing needs daphne, which we do not ship)."""

    def __init__(self, application, path, subprotocols=()):
        scope = {"type": "websocket", "path": path, "query_string": b"", "headers": [],
                 "subprotocols": list(subprotocols)}
        super().__init__(application, scope)

    async def connect(self, timeout=2):
        await self.send_input({"type": "websocket.connect"})
        response = await self.receive_output(timeout)
        assert response["type"] == "websocket.accept", response
        return response.get("subprotocol")

    async def send_to(self, text_data):
        await self.send_input({"type": "websocket.receive", "text": text_data})

    async def receive_from(self, timeout=2):
        response = await self.receive_output(timeout)
        assert response["type"] == "websocket.send", response
        return response["text"]

    async def disconnect(self, code=1000, timeout=2):
        await self.send_input({"type": "websocket.disconnect", "code": code})
        await self.wait(timeout)


def run_async(coroutine):
    """asyncio.run in a thread of its own: other tests (browser ones) may leave a loop running here."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


def run(coroutine, timeout: float = 20):
    """Run a consumer test's coroutine (bounded), then close the connections the consumers'
    database thread opened, which outlives the loop, so the test database can be dropped."""

    async def and_close_connections():
        try:
            return await asyncio.wait_for(coroutine, timeout)
        finally:
            await database_sync_to_async(connections.close_all)()

    return run_async(and_close_connections())

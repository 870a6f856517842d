"""The task worker subscription: /api/task_runs/subscriptions/scheduled.

A task worker (`prefect.task_worker.serve`) opens it with the usual handshake (subprotocol
`prefect`, the auth frame), then says `{"type": "subscribe", "keys": [task keys], "client_id": ...}`.
From then on we send it one task run at a time (the run as JSON, like `GET /api/task_runs/{id}`)
and wait for its `{"type": "ack"}` before sending the next; `{"type": "quit"}` ends the
subscription. A bad subscribe or any other frame closes the socket with 4001, as the reference does.

Runs come from the database (runs.domain.task_workers), so a run scheduled through any server
process reaches a worker connected to any other.
"""

from __future__ import annotations

import asyncio
import logging

import orjson

from runs.domain import task_workers
from runs.domain.errors import InvalidInput
from runs.models import TaskWorker

from .consumers import HandshakeConsumer
from .stream import in_database

logger = logging.getLogger(__name__)

PROTOCOL_VIOLATION = 4001
POLL_SECONDS = 0.5  # how often an idle subscription looks for newly scheduled runs
RETRY_SECONDS = 2.0  # after a database error


def claim_as_json(worker: TaskWorker) -> tuple[str, str] | None:
    """(state id, the run as JSON) for the next run this worker may take, or None."""
    from runs.api.base import dumps
    from runs.api.task_runs import task_run_json

    run = task_workers.claim_task_run(worker)
    if run is None:
        return None
    return str(run.state_id), dumps(task_run_json(run)).decode()


class TaskWorkerChannelConsumer(HandshakeConsumer):
    async def connect(self):
        self.worker: TaskWorker | None = None
        self.awaiting_ack: asyncio.Future | None = None
        self.background: list[asyncio.Task] = []
        await super().connect()

    async def receive_frame(self, text: str):
        try:
            message = orjson.loads(text)
        except orjson.JSONDecodeError:
            message = None
        kind = message.get("type") if isinstance(message, dict) else None
        if kind == "quit":
            await self.close()
        elif self.worker is None:
            await self.subscribe(message if kind == "subscribe" else None)
        elif kind == "ack" and self.awaiting_ack is not None and not self.awaiting_ack.done():
            self.awaiting_ack.set_result(None)
        else:
            await self.close(PROTOCOL_VIOLATION, "Protocol violation: expected 'ack' message")

    async def subscribe(self, message: dict | None):
        if message is None:
            await self.close(PROTOCOL_VIOLATION, "Protocol violation: expected 'subscribe' message")
            return
        try:
            self.worker = await in_database(
                task_workers.subscribe_task_worker, client_id=message.get("client_id"), task_keys=message.get("keys")
            )
        except InvalidInput as exc:
            await self.close(PROTOCOL_VIOLATION, f"Protocol violation: {exc}"[:120])
            return
        logger.info("Task worker %r subscribed to task keys %r", self.worker.client_id, self.worker.task_keys)
        loop = asyncio.get_running_loop()
        self.background = [loop.create_task(self.deliver()), loop.create_task(self.keep_alive())]

    async def deliver(self):
        """Hand out runs one at a time, each acknowledged before the next is claimed."""
        while True:
            try:
                claimed = await in_database(claim_as_json, self.worker)
            except Exception:
                logger.exception("Claiming a task run for task worker %r failed; retrying", self.worker.client_id)
                await asyncio.sleep(RETRY_SECONDS)
                continue
            if claimed is None:
                await asyncio.sleep(POLL_SECONDS)
                continue
            state_id, payload = claimed
            self.awaiting_ack = asyncio.get_running_loop().create_future()
            try:
                await self.send(text_data=payload)
            except Exception:  # the socket is going away; the next subscriber may have it at once
                await in_database(task_workers.release_task_run, self.worker, state_id=state_id)
                return
            await self.awaiting_ack  # the worker may hold it while it is at its concurrency limit
            try:
                await in_database(task_workers.acknowledge_task_run, self.worker, state_id=state_id)
            except Exception:  # the claim stands; only the record of the ack is missing
                logger.exception("Could not record the ack of task run state %s", state_id)

    async def keep_alive(self):
        """Renew the subscription and its claims, so other processes neither hand them out nor forget it."""
        interval = task_workers.RENEW_EVERY.total_seconds()
        while True:
            await asyncio.sleep(interval)
            try:
                await in_database(task_workers.renew_task_worker, self.worker)
            except Exception:
                logger.exception("Could not renew task worker %r", self.worker.client_id)

    async def disconnect(self, code):
        for task in self.background:
            task.cancel()
        await asyncio.gather(*self.background, return_exceptions=True)
        if self.worker is not None:
            try:
                await in_database(task_workers.unsubscribe_task_worker, self.worker)
            except Exception:  # its claims then run out with their lease
                logger.exception("Could not unsubscribe task worker %r", self.worker.client_id)

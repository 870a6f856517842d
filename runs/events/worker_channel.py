"""The worker channel: /api/work_pools/<name>/workers/connect.

A 3.8 worker opens it at start-up (subprotocol `prefect`, the usual auth frame), says
`worker.hello.v1`, and expects `worker.ready.v1` within 10 s: the pool (created when the worker
asks and it is missing), the queues it serves and a first snapshot of the pool. After that it sends
`worker.heartbeat.v1` frames, which we record like REST heartbeats, and we push a
`work_pool.snapshot.v1` whenever the pool changes, because a worker on a healthy channel stops
reading the pool over REST. We do not offer cleanup delivery; the worker then handles cleanup itself.

Close codes follow the client's policy: 1008 (auth/authorization, terminal), 1002 (protocol
error, terminal), 1011 (transient, the worker reconnects). A worker whose channel closes
terminally falls back to REST polling and heartbeats.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from datetime import datetime
from typing import Annotated, Any, Literal
from uuid import UUID

import orjson
from django.utils import timezone
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from runs.domain import work_pools
from runs.domain.errors import InvalidInput, NotFound

from .consumers import POLICY_VIOLATION, PROTOCOL_ERROR, SUBPROTOCOL, HandshakeConsumer, dumps
from .stream import in_database

logger = logging.getLogger(__name__)

CHANNEL_VERSION = "work_pool_worker_channel.v1"
REQUIRED_CAPABILITIES = ("worker_heartbeat.v1", "work_pool_snapshot.v1")
TRANSIENT_ERROR = 1011
SNAPSHOT_CHECK_SECONDS = 5.0  # how often a connection looks for pool changes to push

NonEmpty = Annotated[str, Field(min_length=1)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class HelloPayload(Strict):
    consumer_id: UUID
    worker_name: NonEmpty
    worker_type: NonEmpty
    heartbeat_interval_seconds: int = Field(gt=0)
    supported_channel_versions: list[NonEmpty] = Field(min_length=1)
    requested_capabilities: list[NonEmpty] = Field(min_length=1)
    work_queue_names: list[NonEmpty] = Field(default_factory=list)
    handled_cleanup_kinds: list[str] = Field(default_factory=list)
    max_cleanup_concurrency: int = Field(default=0, ge=0)
    create_pool_if_not_found: bool = False
    default_base_job_template: dict[str, Any] = Field(default_factory=dict)
    worker_metadata: dict[str, Any] | None = None


class HelloFrame(Strict):
    type: Literal["worker.hello.v1"]
    id: UUID
    sent_at: datetime
    payload: HelloPayload


class HeartbeatPayload(Strict):
    consumer_id: UUID
    worker_name: NonEmpty
    heartbeat_interval_seconds: int = Field(gt=0)


class HeartbeatFrame(Strict):
    type: Literal["worker.heartbeat.v1"]
    id: UUID
    sent_at: datetime
    payload: HeartbeatPayload


class ChannelRefused(Exception):
    """Setup cannot go on; closes the socket with `code` and a reason the client can log."""

    def __init__(self, code: int, reason: str):
        super().__init__(reason)
        self.code = code
        self.reason = reason


def frame(frame_type: str, payload: dict) -> str:
    return dumps({"type": frame_type, "id": str(uuid.uuid4()), "sent_at": timezone.now(), "payload": payload})


def pool_snapshot(pool) -> dict:
    from runs.api.work_pools import work_pools_json

    return work_pools_json([pool])[0]


def open_channel(work_pool_name: str, hello: HelloPayload) -> tuple[dict, object]:
    """Resolve the pool and queues, record the first heartbeat; returns (ready payload, pool)."""
    if CHANNEL_VERSION not in hello.supported_channel_versions:
        raise ChannelRefused(POLICY_VIOLATION, "unsupported_version")
    missing = [cap for cap in REQUIRED_CAPABILITIES if cap not in hello.requested_capabilities]
    if missing:
        raise ChannelRefused(PROTOCOL_ERROR, "protocol_error")
    try:
        pool, worker = work_pools.record_worker_heartbeat(
            work_pool_name=work_pool_name,
            worker_name=hello.worker_name,
            heartbeat_interval_seconds=hello.heartbeat_interval_seconds,
            create_pool_type=hello.worker_type if hello.create_pool_if_not_found else None,
            default_base_job_template=hello.default_base_job_template,
        )
        if hello.work_queue_names:
            queues = [
                work_pools.read_work_queue(work_pool_name=pool.name, name=name)
                for name in dict.fromkeys(hello.work_queue_names)
            ]
        else:
            queues = work_pools.read_work_queues(work_pool_name=pool.name)
    except NotFound as exc:
        raise ChannelRefused(POLICY_VIOLATION, "work_queue_not_found" if "queue" in str(exc) else "work_pool_not_found")
    except InvalidInput:
        raise ChannelRefused(PROTOCOL_ERROR, "protocol_error")
    if pool.default_queue_id is None:
        work_pools.ensure_default_queue(pool)
    pool.refresh_from_db()
    requested = list(dict.fromkeys(hello.requested_capabilities))
    ready = {
        "consumer_id": hello.consumer_id,
        "worker_id": worker.id,
        "selected_channel_version": CHANNEL_VERSION,
        "effective_heartbeat_interval_seconds": hello.heartbeat_interval_seconds,
        "accepted_capabilities": list(REQUIRED_CAPABILITIES),
        "rejected_capabilities": [cap for cap in requested if cap not in REQUIRED_CAPABILITIES],
        "effective_max_cleanup_concurrency": 0,
        "resolved_work_queues": [{"id": queue.id, "name": queue.name} for queue in queues],
        "initial_snapshot": {"snapshot_sequence": 1, "reason": "initial", "work_pool": pool_snapshot(pool)},
    }
    return ready, pool


def record_heartbeat(work_pool_name: str, worker_name: str, interval: int) -> None:
    work_pools.record_worker_heartbeat(
        work_pool_name=work_pool_name, worker_name=worker_name, heartbeat_interval_seconds=interval
    )


def changed_pool(work_pool_id, seen_updated):
    """The pool if it changed since `seen_updated`, False if it is gone, None if unchanged."""
    from runs.models import WorkPool

    pool = WorkPool.objects.filter(id=work_pool_id).first()
    if pool is None:
        return False
    return pool if pool.updated != seen_updated else None


class WorkerChannelConsumer(HandshakeConsumer):
    async def connect(self):
        self.work_pool_name = self.scope["url_route"]["kwargs"]["work_pool_name"]
        self.hello: HelloPayload | None = None
        self.pool = None
        self.snapshot_sequence = 1
        self.watcher: asyncio.Task | None = None
        if SUBPROTOCOL not in self.scope.get("subprotocols", []):
            # The channel is only spoken with the prefect subprotocol; the worker falls back to REST.
            await self.accept()
            await self.close(PROTOCOL_ERROR, "protocol_error")
            return
        await super().connect()

    async def receive_frame(self, text: str):
        try:
            message = orjson.loads(text)
        except orjson.JSONDecodeError:
            await self.close(PROTOCOL_ERROR, "protocol_error")
            return
        if self.hello is None:
            await self.setup(message)
        else:
            await self.handle(message)

    async def setup(self, message):
        try:
            hello = HelloFrame.model_validate(message).payload
        except ValidationError:
            await self.close(PROTOCOL_ERROR, "protocol_error")
            return
        try:
            ready, self.pool = await in_database(open_channel, self.work_pool_name, hello)
        except ChannelRefused as exc:
            await self.close(exc.code, exc.reason)
            return
        except Exception:
            logger.exception("Worker channel setup failed for work pool %s", self.work_pool_name)
            await self.close(TRANSIENT_ERROR, "transient_server_error")
            return
        self.hello = hello
        await self.send(text_data=frame("worker.ready.v1", ready))
        self.watcher = asyncio.get_running_loop().create_task(self.push_snapshots())

    async def handle(self, message):
        try:
            heartbeat = HeartbeatFrame.model_validate(message).payload
        except ValidationError:
            # Cleanup frames were not accepted at setup; anything else is not part of v1.
            await self.close(PROTOCOL_ERROR, "protocol_error")
            return
        try:
            await in_database(
                record_heartbeat, self.pool.name, heartbeat.worker_name, heartbeat.heartbeat_interval_seconds
            )
        except Exception:
            logger.exception("Could not record a worker heartbeat for work pool %s", self.work_pool_name)
            await self.close(TRANSIENT_ERROR, "heartbeat_persistence_failed")

    async def push_snapshots(self):
        """Send the pool again whenever it changes; close (transiently) when it is deleted."""
        seen = self.pool.updated
        try:
            while True:
                await asyncio.sleep(SNAPSHOT_CHECK_SECONDS)
                pool = await in_database(changed_pool, self.pool.id, seen)
                if pool is False:
                    await self.close(TRANSIENT_ERROR, "transient_server_error")
                    return
                if pool is None:
                    continue
                seen = pool.updated
                self.snapshot_sequence += 1
                snapshot = await in_database(pool_snapshot, pool)
                await self.send(text_data=frame("work_pool.snapshot.v1", {
                    "snapshot_sequence": self.snapshot_sequence, "reason": "work_pool_updated", "work_pool": snapshot,
                }))
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.exception("Worker channel snapshot push failed for work pool %s", self.work_pool_name)

    async def disconnect(self, code):
        if self.watcher is not None:
            self.watcher.cancel()

"""The worker channel websocket, checked against the 3.8.8 client's own frame models."""

import asyncio
import json
import uuid
from datetime import datetime, timezone

import pytest
from channels.db import database_sync_to_async
from prefect.client.schemas.worker_channel import WorkPoolSnapshotFrame, WorkerReadyFrame

from orchestrator_site.asgi import application
from runs.domain import work_pools
from runs.events import worker_channel
from runs.models import WorkPool, Worker

from .helpers import WebsocketClient, run

pytestmark = pytest.mark.django_db(transaction=True)

TEMPLATE = {"job_configuration": {"command": "{{ command }}"}, "variables": {"properties": {"command": {"type": "string"}}}}



def hello(consumer_id=None, **payload):
    return {
        "type": "worker.hello.v1",
        "id": str(uuid.uuid4()),
        "sent_at": datetime.now(timezone.utc).isoformat(),
        "payload": {
            "consumer_id": str(consumer_id or uuid.uuid4()),
            "worker_name": "w1",
            "worker_type": "process",
            "heartbeat_interval_seconds": 30,
            "supported_channel_versions": ["work_pool_worker_channel.v1"],
            "requested_capabilities": ["worker_heartbeat.v1", "work_pool_snapshot.v1"],
            "work_queue_names": [],
            "handled_cleanup_kinds": [],
            "max_cleanup_concurrency": 0,
            "create_pool_if_not_found": True,
            "default_base_job_template": TEMPLATE,
            "worker_metadata": None,
            **payload,
        },
    }


def heartbeat(consumer_id, interval=15):
    return {
        "type": "worker.heartbeat.v1",
        "id": str(uuid.uuid4()),
        "sent_at": datetime.now(timezone.utc).isoformat(),
        "payload": {"consumer_id": str(consumer_id), "worker_name": "w1", "heartbeat_interval_seconds": interval},
    }


async def open_channel(pool_name="pool-a", subprotocols=("prefect",)):
    client = WebsocketClient(application, f"/api/work_pools/{pool_name}/workers/connect", subprotocols)
    await client.connect()
    await client.send_to(text_data=json.dumps({"type": "auth", "token": None}))
    assert json.loads(await client.receive_from()) == {"type": "auth_success"}
    return client


async def expect_close(client, code):
    message = await client.receive_output(5)
    assert message["type"] == "websocket.close", message
    assert message["code"] == code


class TestSetup:
    def test_hello_gets_a_ready_frame_the_client_accepts(self):
        consumer_id = uuid.uuid4()

        async def scenario():
            client = await open_channel()
            await client.send_to(text_data=json.dumps(hello(consumer_id)))
            ready = WorkerReadyFrame.model_validate(json.loads(await client.receive_from()))
            await client.disconnect()
            return ready

        ready = run(scenario())
        pool = WorkPool.objects.get(name="pool-a")
        assert ready.payload.consumer_id == consumer_id
        assert set(ready.payload.accepted_capabilities) == {"worker_heartbeat.v1", "work_pool_snapshot.v1"}
        assert ready.payload.initial_snapshot.work_pool.id == pool.id
        assert ready.payload.initial_snapshot.work_pool.default_queue_id == pool.default_queue_id
        assert [queue.name for queue in ready.payload.resolved_work_queues] == ["default"]

    def test_it_creates_a_missing_pool_with_the_workers_type_and_template(self):
        async def scenario():
            client = await open_channel("fresh-pool")
            await client.send_to(text_data=json.dumps(hello()))
            await client.receive_from()
            await client.disconnect()

        run(scenario())
        pool = WorkPool.objects.get(name="fresh-pool")
        assert (pool.type, pool.base_job_template, pool.status) == ("process", TEMPLATE, "READY")
        assert Worker.objects.get(work_pool=pool).status == "ONLINE"

    def test_a_missing_pool_is_refused_when_the_worker_does_not_ask_to_create_it(self):
        async def scenario():
            client = await open_channel("absent")
            await client.send_to(text_data=json.dumps(hello(create_pool_if_not_found=False)))
            await expect_close(client, 1008)

        run(scenario())
        assert not WorkPool.objects.exists()

    def test_an_unknown_queue_is_refused(self):
        work_pools.create_work_pool(name="pool-a", type="process")

        async def scenario():
            client = await open_channel()
            await client.send_to(text_data=json.dumps(hello(work_queue_names=["nope"])))
            await expect_close(client, 1008)

        run(scenario())

    def test_a_hello_with_unknown_keys_is_a_protocol_error(self):
        frame = hello()
        frame["payload"]["surprise"] = 1

        async def scenario():
            client = await open_channel()
            await client.send_to(text_data=json.dumps(frame))
            await expect_close(client, 1002)

        run(scenario())

    def test_an_unsupported_channel_version_is_refused(self):
        async def scenario():
            client = await open_channel()
            await client.send_to(text_data=json.dumps(hello(supported_channel_versions=["v99"])))
            await expect_close(client, 1008)

        run(scenario())

    def test_without_the_prefect_subprotocol_the_channel_closes(self):
        async def scenario():
            client = WebsocketClient(application, "/api/work_pools/pool-a/workers/connect", ())
            await client.connect()
            await expect_close(client, 1002)

        run(scenario())


class TestAfterSetup:
    def test_heartbeat_frames_are_recorded(self):
        consumer_id = uuid.uuid4()

        async def scenario():
            client = await open_channel()
            await client.send_to(text_data=json.dumps(hello(consumer_id)))
            await client.receive_from()
            before = await database_sync_to_async(lambda: Worker.objects.get().last_heartbeat_time)()
            await client.send_to(text_data=json.dumps(heartbeat(consumer_id, interval=15)))
            await asyncio.sleep(0.3)
            await client.disconnect()
            return before

        before = run(scenario())
        worker = Worker.objects.get()
        assert worker.last_heartbeat_time > before
        assert worker.heartbeat_interval_seconds == 15

    def test_a_pool_change_is_pushed_as_a_snapshot(self, monkeypatch):
        monkeypatch.setattr(worker_channel, "SNAPSHOT_CHECK_SECONDS", 0.1)

        async def scenario():
            client = await open_channel()
            await client.send_to(text_data=json.dumps(hello()))
            await client.receive_from()
            await database_sync_to_async(work_pools.update_work_pool)(name="pool-a", concurrency_limit=4)
            snapshot = WorkPoolSnapshotFrame.model_validate(json.loads(await client.receive_from(5)))
            await client.disconnect()
            return snapshot

        snapshot = run(scenario())
        assert snapshot.payload.snapshot_sequence == 2
        assert snapshot.payload.work_pool.concurrency_limit == 4

    def test_an_unexpected_frame_is_a_protocol_error(self):
        async def scenario():
            client = await open_channel()
            await client.send_to(text_data=json.dumps(hello()))
            await client.receive_from()
            await client.send_to(text_data=json.dumps({"type": "cleanup.ack.v1"}))
            await expect_close(client, 1002)

        run(scenario())

"""The event websockets through the real server (gunicorn's ASGI worker, two processes), spoken to
with the `websockets` library the prefect client uses."""

import asyncio
import json
import shutil
import uuid
from datetime import datetime, timedelta, timezone

import pytest
import websockets

from tests.e2e.harness import Database, ServeProcess, e2e_backend, free_port, new_home

from .helpers import event, run_async

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def server():
    home = new_home("events-live-")
    database = Database.create(e2e_backend(), home)
    process = ServeProcess(
        home=home, port=free_port(), args=["--workers", "2", "--no-services"],
        env={"PREFECT_API_DATABASE_CONNECTION_URL": database.url},
    )
    try:
        process.start()
        process.wait_healthy()
        yield process
    finally:
        if process.process is not None:
            process.stop()
        database.drop()
        shutil.rmtree(home, ignore_errors=True)


def ws_url(server, path):
    return server.base_url.replace("http://", "ws://") + "/api" + path


async def open_socket(server, path):
    socket = await websockets.connect(ws_url(server, path), subprotocols=["prefect"])
    assert socket.subprotocol == "prefect"
    await socket.send(json.dumps({"type": "auth", "token": None}))
    assert json.loads(await socket.recv()) == {"type": "auth_success"}
    return socket


class TestLiveWebsockets:
    def test_pings_are_answered_right_after_connecting(self, server):
        async def scenario():
            async with websockets.connect(ws_url(server, "/events/in"), subprotocols=["prefect"]) as socket:
                pong = await socket.ping()
                await asyncio.wait_for(pong, 2)

        run_async(scenario())

    def test_events_sent_in_reach_subscribers_on_any_worker(self, server):
        """Several subscribers land on both workers; each must see the event, whichever worker took it."""

        async def scenario():
            now = datetime.now(timezone.utc)
            subscription = {"type": "filter", "filter": {
                "occurred": {"since": (now - timedelta(minutes=1)).isoformat(),
                             "until": (now + timedelta(days=365)).isoformat()},
                "event": {"name": ["test.live.delivery"]}, "id": {"id": []}, "order": "DESC"}}
            subscribers = [await open_socket(server, "/events/out") for _ in range(4)]
            for subscriber in subscribers:
                await subscriber.send(json.dumps(subscription))
            await asyncio.sleep(0.3)

            sent = event("test.live.delivery", f"test.resource.{uuid.uuid4()}")
            emitter = await open_socket(server, "/events/in")
            await emitter.send(json.dumps(sent))
            await asyncio.wait_for(await emitter.ping(), 2)  # the client's delivery checkpoint

            for subscriber in subscribers:
                message = json.loads(await asyncio.wait_for(subscriber.recv(), 5))
                assert message["type"] == "event"
                assert message["event"]["id"] == sent["id"]
                assert message["event"]["received"].endswith("Z")
            for socket in [*subscribers, emitter]:
                await socket.close()

        run_async(scenario())

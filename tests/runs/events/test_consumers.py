import asyncio
import json
import uuid
from datetime import datetime, timedelta, timezone

import pytest
from django.conf import settings
from channels.db import database_sync_to_async

from orchestrator_site.asgi import application
from orchestrator_site.config import Setting
from runs.domain.events import record_events
from runs.events.stream import poller
from runs.models import Event, TaskRun

from .helpers import WebsocketClient, event, make_flow_run, run, task_run_event

# The consumers reach the database from worker threads, which only see committed data.
pytestmark = pytest.mark.django_db(transaction=True)

CANCELLING_FILTER = {
    "occurred": {"since": None, "until": None},
    "event": {"prefix": None, "exclude_prefix": None, "name": ["prefect.flow-run.Cancelling"], "exclude_name": None},
    "resource": None, "related": None, "any_resource": None, "id": {"id": []}, "text": None, "order": "DESC",
}


def window(filter_: dict) -> dict:
    now = datetime.now(timezone.utc)
    return {**filter_, "occurred": {"since": (now - timedelta(minutes=1)).isoformat(),
                                    "until": (now + timedelta(days=365)).isoformat()}}



async def connect(path, subprotocols=("prefect",), token=None, handshake=True):
    communicator = WebsocketClient(application, path, subprotocols)
    subprotocol = await communicator.connect()
    if handshake:
        await communicator.send_to(text_data=json.dumps({"type": "auth", "token": token}))
    return communicator, subprotocol



def configure_auth_string(monkeypatch, value):
    prefect = dict(settings.PREFECT)
    prefect["PREFECT_SERVER_API_AUTH_STRING"] = Setting(value, "env")
    monkeypatch.setattr(settings, "PREFECT", prefect)


class TestAuthHandshake:
    def test_it_accepts_the_prefect_subprotocol_and_answers_auth_success(self):
        async def scenario():
            communicator, subprotocol = await connect("/api/events/in")
            assert subprotocol == "prefect"
            assert json.loads(await communicator.receive_from()) == {"type": "auth_success"}
            await communicator.disconnect()

        run(scenario())

    def test_a_configured_auth_string_must_match(self, monkeypatch):
        configure_auth_string(monkeypatch, "user:pass")

        async def scenario():
            good, _ = await connect("/api/events/out", token="user:pass")
            assert json.loads(await good.receive_from()) == {"type": "auth_success"}
            await good.disconnect()
            bad, _ = await connect("/api/events/out", token="user:wrong")
            closed = await bad.receive_output()
            assert closed == {"type": "websocket.close", "code": 1008, "reason": "Invalid token"}

        run(scenario())

    def test_legacy_mode_is_refused_when_auth_is_configured(self, monkeypatch):
        configure_auth_string(monkeypatch, "user:pass")

        async def scenario():
            communicator, _ = await connect("/api/events/in", subprotocols=(), handshake=False)
            closed = await communicator.receive_output()
            assert closed["type"] == "websocket.close" and closed["code"] == 1008

        run(scenario())

    def test_a_first_frame_that_is_not_auth_closes_with_1008(self):
        async def scenario():
            communicator, _ = await connect("/api/events/in", handshake=False)
            await communicator.send_to(text_data=json.dumps(event()))
            closed = await communicator.receive_output()
            assert closed["type"] == "websocket.close" and closed["code"] == 1008

        run(scenario())


class TestEventsIn:
    def test_events_are_recorded_in_batches_and_bad_frames_are_skipped(self, caplog):
        flow_run = make_flow_run()
        task_run_id = uuid.uuid4()
        frames = [
            task_run_event(task_run_id, "PENDING", flow_run_id=flow_run.id, at=0),
            task_run_event(task_run_id, "RUNNING", flow_run_id=flow_run.id, at=1),
            event("prefect.flow-run.heartbeat", f"prefect.flow-run.{flow_run.id}"),
        ]

        async def scenario():
            communicator, _ = await connect("/api/events/in")
            await communicator.receive_from()
            await communicator.send_to(text_data="{not json")
            await communicator.send_to(text_data=json.dumps({"event": "no resource"}))
            for frame in frames:
                await communicator.send_to(text_data=json.dumps(frame))
            # Recorded without waiting for the disconnect: the buffer flushes on a short timer.
            for _ in range(100):
                if await database_sync_to_async(Event.objects.count)() == 3:
                    break
                await asyncio.sleep(0.02)
            await communicator.disconnect()

        run(scenario())
        assert Event.objects.count() == 3
        assert TaskRun.objects.get(id=task_run_id).state_type == "RUNNING"
        assert caplog.text.count("Dropped an invalid event frame") == 2

    def test_the_buffer_is_flushed_on_disconnect(self):
        sent = [event() for _ in range(5)]

        async def scenario():
            communicator, _ = await connect("/api/events/in", subprotocols=(), handshake=False)  # legacy mode
            for frame in sent:
                await communicator.send_to(text_data=json.dumps(frame))
            await communicator.disconnect()

        run(scenario())
        assert set(map(str, Event.objects.values_list("id", flat=True))) == {e["id"] for e in sent}


class TestEventsOut:
    def test_it_backfills_stored_matches_then_streams_new_ones(self):
        earlier = event("prefect.flow-run.Cancelling", "prefect.flow-run.1", occurred=datetime.now(timezone.utc))
        ignored = event("prefect.flow-run.Running", "prefect.flow-run.1")
        too_old = event("prefect.flow-run.Cancelling", "prefect.flow-run.0",
                        occurred=datetime.now(timezone.utc) - timedelta(minutes=20))
        record_events([earlier, ignored, too_old])
        later = event("prefect.flow-run.Cancelling", "prefect.flow-run.2")

        async def scenario():
            communicator, _ = await connect("/api/events/out")
            await communicator.receive_from()
            filter_ = window(CANCELLING_FILTER)
            filter_["occurred"]["since"] = (datetime.now(timezone.utc) - timedelta(hours=1)).isoformat()
            await communicator.send_to(text_data=json.dumps({"type": "filter", "filter": filter_}))
            backfilled = json.loads(await communicator.receive_from(timeout=5))
            assert backfilled["type"] == "event"
            assert backfilled["event"]["id"] == earlier["id"]
            assert backfilled["event"]["received"].endswith("Z")
            assert backfilled["event"]["occurred"] == earlier["occurred"]

            await database_sync_to_async(record_events)([ignored | {"id": str(uuid.uuid4())}, later])
            live = json.loads(await communicator.receive_from(timeout=5))
            assert live["event"]["id"] == later["id"]
            assert live["event"]["resource"] == later["resource"]
            assert await communicator.receive_nothing(timeout=0.8)  # nothing twice, nothing unmatched
            await communicator.disconnect()
            assert not poller.subscriptions

        run(scenario())

    def test_a_second_frame_that_is_not_a_filter_closes_with_1002(self):
        async def scenario():
            communicator, _ = await connect("/api/events/out")
            await communicator.receive_from()
            await communicator.send_to(text_data=json.dumps({"type": "hello"}))
            closed = await communicator.receive_output()
            assert closed == {"type": "websocket.close", "code": 1002, "reason": "Expected 'filter' message"}

        run(scenario())

    def test_an_invalid_filter_closes_with_1002(self):
        async def scenario():
            communicator, _ = await connect("/api/events/out")
            await communicator.receive_from()
            await communicator.send_to(text_data=json.dumps({"type": "filter", "filter": {"bogus": 1}}))
            closed = await communicator.receive_output()
            assert closed["type"] == "websocket.close" and closed["code"] == 1002

        run(scenario())

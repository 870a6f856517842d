"""The events websockets: /api/events/in (clients emit) and /api/events/out (clients subscribe).

Both speak the client's handshake: subprotocol `prefect`, then `{"type":"auth","token":...}`
answered by `{"type":"auth_success"}`. Without the subprotocol a connection is in legacy mode and
skips the handshake, which is only allowed while no auth string is configured. Websocket pings
are answered by the protocol server itself (the client uses them as its delivery checkpoint).
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import time
from datetime import timedelta

import orjson
from channels.consumer import get_handler_name
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings
from pydantic import ValidationError

from runs.domain.errors import InvalidInput
from runs.domain.events import event_to_wire, parse_event, read_events, record_events

from .filters import EventFilter
from .stream import in_database, poller

logger = logging.getLogger(__name__)

SUBPROTOCOL = "prefect"
POLICY_VIOLATION = 1008
PROTOCOL_ERROR = 1002

FLUSH_SECONDS = 0.05  # how long the first event of a burst waits for company
FLUSH_SIZE = 500  # events per write
BACKLOG_LIMIT = 20_000  # buffered events before the socket stops being read
FLUSH_ATTEMPTS = 3
BACKFILL_PAGE = 250
BACKFILL_MAX_AGE_MINUTES = 15


def configured_auth_string() -> str | None:
    return settings.PREFECT["PREFECT_SERVER_API_AUTH_STRING"].value or None


def dumps(message: dict) -> str:
    return orjson.dumps(message, option=orjson.OPT_UTC_Z | orjson.OPT_NON_STR_KEYS).decode()


class HandshakeConsumer(AsyncWebsocketConsumer):
    """Accepts the connection and runs the auth handshake; subclasses handle the frames after it."""

    async def dispatch(self, message):
        # Channels hops to the shared sync thread before every message to close stale database
        # connections. A burst of events would then crawl behind whatever that thread is doing; our
        # database work closes its own connections (in_database), so frames go straight in.
        handler = getattr(self, get_handler_name(message), None)
        if handler is None:
            raise ValueError(f"No handler for message type {message['type']}")
        await handler(message)

    async def connect(self):
        self.authenticated = False
        if SUBPROTOCOL in self.scope.get("subprotocols", []):
            await self.accept(SUBPROTOCOL)
            return
        await self.accept()
        if configured_auth_string():
            await self.close(POLICY_VIOLATION, "Auth required but no token provided")
            return
        self.authenticated = True  # legacy mode

    async def receive(self, text_data=None, bytes_data=None):
        text = text_data if text_data is not None else (bytes_data or b"").decode("utf-8", "replace")
        if self.authenticated:
            await self.receive_frame(text)
        else:
            await self.authenticate(text)

    async def authenticate(self, text: str):
        try:
            message = orjson.loads(text)
        except orjson.JSONDecodeError:
            message = None
        if not isinstance(message, dict) or message.get("type") != "auth":
            await self.close(POLICY_VIOLATION, "Expected an auth message")
            return
        expected = configured_auth_string()
        token = message.get("token")
        if expected is not None and not (isinstance(token, str) and hmac.compare_digest(token, expected)):
            await self.close(POLICY_VIOLATION, "Invalid token" if token else "Auth required but no token provided")
            return
        self.authenticated = True
        await self.send(text_data=dumps({"type": "auth_success"}))

    async def receive_frame(self, text: str):
        raise NotImplementedError


def record_frames(frames: list[str]) -> int:
    """Validate each frame on its own, record the good ones together; returns how many were bad.

    A bad frame is logged and dropped rather than closing the socket: the client would re-send it
    after reconnecting, forever.
    """
    events, bad = [], 0
    for frame in frames:
        try:
            events.append(parse_event(orjson.loads(frame)))
        except (orjson.JSONDecodeError, InvalidInput, TypeError, ValidationError) as exc:
            bad += 1
            logger.warning("Dropped an invalid event frame: %s (%.200s)", exc, frame)
    if events:
        record_events(events)
    return bad


class EventsInConsumer(HandshakeConsumer):
    """Buffers incoming events and records them in batches from a background writer, so reading
    the socket never waits for the database unless the backlog grows too large."""

    async def connect(self):
        self.buffer: list[str] = []
        self.writer: asyncio.Task | None = None
        await super().connect()

    async def receive_frame(self, text: str):
        self.buffer.append(text)
        if self.writer is None or self.writer.done():
            self.writer = asyncio.get_running_loop().create_task(self.write_buffered())
        elif len(self.buffer) >= BACKLOG_LIMIT:
            await asyncio.shield(self.writer)  # stop reading until the database catches up

    async def write_buffered(self):
        await asyncio.sleep(FLUSH_SECONDS)  # let a burst gather into one batch
        while self.buffer:
            frames, self.buffer = self.buffer[:FLUSH_SIZE], self.buffer[FLUSH_SIZE:]
            await self.record(frames)

    async def record(self, frames: list[str]):
        for attempt in range(1, FLUSH_ATTEMPTS + 1):
            try:
                started = time.monotonic()
                await in_database(record_frames, frames)
                logger.debug("Recorded %d event(s) in %.3f s", len(frames), time.monotonic() - started)
                return
            except Exception:
                if attempt == FLUSH_ATTEMPTS:
                    logger.exception("Could not record %d event(s); they are lost", len(frames))
                    return
                logger.warning("Recording %d event(s) failed (attempt %d); retrying", len(frames), attempt)
                await asyncio.sleep(0.1 * attempt)

    async def disconnect(self, code):
        if self.writer is not None and not self.writer.done():
            await self.writer
        while self.buffer:
            frames, self.buffer = self.buffer[:FLUSH_SIZE], self.buffer[FLUSH_SIZE:]
            await self.record(frames)


class EventsOutConsumer(HandshakeConsumer):
    """Sends stored matches (the last 15 minutes at most, oldest first), then new matches live."""

    async def connect(self):
        self.subscription = None
        self.sender: asyncio.Task | None = None
        await super().connect()

    async def receive_frame(self, text: str):
        if self.subscription is not None:
            return  # the filter is fixed for the life of the connection; later frames mean nothing
        try:
            message = orjson.loads(text)
        except orjson.JSONDecodeError:
            message = None
        if not isinstance(message, dict) or message.get("type") != "filter":
            await self.close(PROTOCOL_ERROR, "Expected 'filter' message")
            return
        try:
            event_filter = EventFilter.model_validate(message.get("filter") or {})
        except ValidationError as exc:
            await self.close(PROTOCOL_ERROR, f"Invalid filter: {exc.error_count()} problem(s)"[:120])
            return
        event_filter.occurred.clamp(timedelta(minutes=BACKFILL_MAX_AGE_MINUTES))
        event_filter.order = "ASC"
        # Subscribe before reading the backfill so nothing recorded in between is missed.
        self.subscription = poller.subscribe(event_filter)
        self.sender = asyncio.get_running_loop().create_task(self.stream(message.get("backfill", True) is not False))

    async def stream(self, backfill: bool):
        sent = set()
        try:
            if backfill:
                offset = 0
                while True:
                    page, _ = await in_database(
                        read_events, filter=self.subscription.filter, limit=BACKFILL_PAGE, offset=offset
                    )
                    for event in page:
                        if event.id in sent:  # offset paging may repeat a row when an earlier one lands
                            continue
                        sent.add(event.id)
                        await self.send_event(event)
                    if len(page) < BACKFILL_PAGE:
                        break
                    offset += BACKFILL_PAGE
            while True:
                event = await self.subscription.queue.get()
                if event.id in sent:
                    continue
                await self.send_event(event)
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.exception("Event stream to a subscriber failed")
            await self.close(1011)

    async def send_event(self, event):
        await self.send(text_data=dumps({"type": "event", "event": event_to_wire(event)}))

    async def disconnect(self, code):
        if self.sender is not None:
            self.sender.cancel()
        if self.subscription is not None:
            poller.unsubscribe(self.subscription)

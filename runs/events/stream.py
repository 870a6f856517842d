"""The live event stream behind /api/events/out.

Events can be written by any server process (several gunicorn workers, several machines), so the
stream does not rely on in-process publishing: each process runs one poller that reads the events
table by `received` and hands each new row to that process's subscribers whose filter matches.

`received` is stamped before the writing transaction commits, so a row can become visible with a
`received` slightly older than rows already seen. The poller therefore re-reads a short overlap
window each time, cheaply (ids only), and fetches full rows only for ids it has not seen.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from uuid import UUID

from channels.db import database_sync_to_async
from django.db.models import Q
from django.utils import timezone

from runs.models import Event

from .filters import EventFilter

logger = logging.getLogger(__name__)

POLL_SECONDS = 0.25
OVERLAP = timedelta(seconds=3)  # how late a commit may become visible and still be streamed
PAGE = 1000
QUEUE_LIMIT = 10_000  # events a slow subscriber may fall behind by before it starts losing them


@dataclass(eq=False)
class Subscription:
    filter: EventFilter
    queue: asyncio.Queue = field(default_factory=lambda: asyncio.Queue(QUEUE_LIMIT))
    dropped: int = 0

    def offer(self, event: Event) -> None:
        if not self.filter.matches(event):
            return
        try:
            self.queue.put_nowait(event)
        except asyncio.QueueFull:
            self.dropped += 1
            if self.dropped == 1 or self.dropped % 1000 == 0:
                logger.warning("Event subscriber is too slow; %d event(s) dropped so far", self.dropped)


class EventPoller:
    """One per process and event loop; runs only while somebody is subscribed."""

    def __init__(self):
        self.subscriptions: set[Subscription] = set()
        self.task: asyncio.Task | None = None
        self.loop: asyncio.AbstractEventLoop | None = None
        self.cursor: datetime | None = None
        self.seen: dict[UUID, datetime] = {}

    def subscribe(self, event_filter: EventFilter) -> Subscription:
        loop = asyncio.get_running_loop()
        if self.loop is not loop:  # a new event loop (tests, a restarted worker): start afresh
            self.__init__()
            self.loop = loop
        subscription = Subscription(event_filter)
        self.subscriptions.add(subscription)
        if self.task is None or self.task.done():
            self.cursor = timezone.now()
            self.seen.clear()
            self.task = loop.create_task(self.run())
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        self.subscriptions.discard(subscription)
        if not self.subscriptions and self.task is not None:
            self.task.cancel()
            self.task = None

    async def run(self) -> None:
        while self.subscriptions:
            try:
                fresh = await in_database(self.read_new_events)
            except Exception:
                logger.exception("Reading new events failed; retrying")
                fresh = []
            for event in fresh:
                for subscription in list(self.subscriptions):
                    subscription.offer(event)
            await asyncio.sleep(POLL_SECONDS)

    def read_new_events(self) -> list[Event]:
        """Rows received since the cursor (minus the overlap) that this poller has not handed out."""
        floor = self.cursor - OVERLAP
        unseen: list[UUID] = []
        after = None
        while True:
            window = Event.objects.filter(received__gte=floor)
            if after is not None:
                window = window.filter(Q(received__gt=after[0]) | Q(received=after[0], id__gt=after[1]))
            page = list(window.order_by("received", "id").values_list("received", "id")[:PAGE])
            for received, event_id in page:
                if event_id not in self.seen:
                    self.seen[event_id] = received
                    unseen.append(event_id)
                self.cursor = max(self.cursor, received)
            if len(page) < PAGE:
                break
            after = page[-1]
        horizon = self.cursor - OVERLAP
        self.seen = {event_id: received for event_id, received in self.seen.items() if received >= horizon}
        if not unseen:
            return []
        rows = {}
        for start in range(0, len(unseen), PAGE):
            rows.update((event.id, event) for event in Event.objects.filter(id__in=unseen[start : start + PAGE]))
        return [rows[event_id] for event_id in unseen if event_id in rows]


async def in_database(function, *args, **kwargs):
    """Run database work off the event loop. It shares the process's sync thread with the HTTP views
    on purpose: an in-memory SQLite database cannot take a writer and a reader in parallel."""
    return await database_sync_to_async(function)(*args, **kwargs)


poller = EventPoller()

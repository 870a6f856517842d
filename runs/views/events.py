"""Events page: the newest events first, filtered by name prefix, resource and time window (all kept in
the URL), refreshed live while the first page is open; and one event with its full payload.

Events are read through runs.domain.events with the same EventFilter that POST /api/events/filter uses.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from uuid import UUID

from django.urls import reverse
from django.views.decorators.http import require_GET

from orchestrator_site.htmx import render_page
from runs.domain import events as domain
from runs.domain.errors import InvalidInput
from runs.events.filters import (
    RESOURCE_ID, RESOURCE_ROLE, EventAnyResourceFilter, EventFilter, EventNameFilter, EventOccurredFilter,
)

from .common import dashboard_view
from .paging import Pager

PAGE_SIZE = 50
REFRESH_SECONDS = 5
LIST_FRAGMENT = "event-list"
RESOURCE_NAME = "prefect.resource.name"
MAX_FILTER_LENGTH = 1024  # the longest event name or resource id the table stores

WINDOWS = {
    "hour": ("Last hour", timedelta(hours=1)),
    "day": ("Last day", timedelta(days=1)),
    "week": ("Last week", timedelta(days=7)),
    "all": ("Any time", None),
}
DEFAULT_WINDOW = "day"
# A resource's own history is read through the resource index whatever its age, so a link to the events
# of an older run (?resource=...) shows them all instead of an empty last day.
DEFAULT_WINDOW_FOR_RESOURCE = "all"
BEGINNING = datetime(1970, 1, 1, tzinfo=timezone.utc)


@dataclass(frozen=True)
class EventQuery:
    name_prefix: str
    resource_id: str
    window: str

    @classmethod
    def parse(cls, params) -> "EventQuery":
        """The list's filters from a QueryDict; anything malformed raises InvalidInput (-> 400)."""
        name_prefix = (params.get("event") or "").strip()
        resource_id = (params.get("resource") or "").strip()
        for label, value in (("Event name", name_prefix), ("Resource id", resource_id)):
            if len(value) > MAX_FILTER_LENGTH:
                raise InvalidInput(f"{label} must be at most {MAX_FILTER_LENGTH} characters.")
        window = params.get("window") or (DEFAULT_WINDOW_FOR_RESOURCE if resource_id else DEFAULT_WINDOW)
        if window not in WINDOWS:
            raise InvalidInput(f"Unknown time window: {window}. Choose one of {', '.join(WINDOWS)}.")
        return cls(name_prefix=name_prefix, resource_id=resource_id, window=window)

    def event_filter(self, now: datetime) -> EventFilter:
        length = WINDOWS[self.window][1]
        return EventFilter(
            occurred=EventOccurredFilter(since=now - length if length else BEGINNING, until=now),
            event=EventNameFilter(prefix=[self.name_prefix]) if self.name_prefix else None,
            # The resource may be the event's own or a related one (a flow run's task-run events too).
            any_resource=EventAnyResourceFilter(id=[self.resource_id]) if self.resource_id else None,
            order="DESC",
        )

    @property
    def filtered(self) -> bool:
        return bool(self.name_prefix or self.resource_id)


def resource_url(resource: dict) -> str | None:
    """The dashboard page of a resource this server keeps (run, flow, deployment, work pool, block)."""
    kind, _, key = str(resource.get(RESOURCE_ID, "")).removeprefix("prefect.").partition(".")
    if kind == "work-pool":
        name = resource.get(RESOURCE_NAME)  # pool pages are addressed by name, which the label carries
        return reverse("dashboard:work-pool", args=[name]) if name else None
    route = {"flow-run": "dashboard:flow-run", "flow": "dashboard:flow", "deployment": "dashboard:deployment",
             "block-document": "dashboard:block"}.get(kind)
    if route is None:
        return None
    try:
        return reverse(route, args=[UUID(key)])
    except ValueError:
        return None


def resource_view(resource: dict) -> dict:
    return {
        "id": resource.get(RESOURCE_ID, ""),
        "name": resource.get(RESOURCE_NAME, ""),
        "role": resource.get(RESOURCE_ROLE, ""),
        "url": resource_url(resource),
        "labels": {k: v for k, v in resource.items() if k not in (RESOURCE_ID, RESOURCE_ROLE)},
    }


def event_row(event) -> dict:
    return {
        "event": event,
        "resource": resource_view(event.resource or {}),
        "related": [resource_view(related) for related in event.related or [] if isinstance(related, dict)],
    }


@require_GET
@dashboard_view
def event_list(request):
    query = EventQuery.parse(request.GET)
    pager = Pager.from_request(request, page_size=PAGE_SIZE)
    now = datetime.now(timezone.utc)
    events, total = domain.read_events(filter=query.event_filter(now), limit=PAGE_SIZE, offset=pager.window.start)
    context = {
        "section": "events",
        "rows": [event_row(event) for event in events],
        "query": query,
        "windows": {key: label for key, (label, _) in WINDOWS.items()},
        "pager": pager.with_total(total),
        # Only the first page follows new events: on older pages rows would shift under the reader.
        "live": pager.page == 1,
        "refresh_seconds": REFRESH_SECONDS,
        "now": now,
        "list_url": request.path,
        "params": request.GET.urlencode(),
        "base_params": _params_without(request.GET, "page"),
    }
    return render_page(request, "runs/events.html", context,
                       fragments={LIST_FRAGMENT: "runs/partials/events_list.html"})


@require_GET
@dashboard_view
def event_detail(request, event_id):
    event = domain.read_event(event_id=event_id)
    context = {"section": "events", **event_row(event)}
    return render_page(request, "runs/event.html", context)


def _params_without(params, *names) -> str:
    params = params.copy()
    for name in names:
        params.pop(name, None)
    return params.urlencode()

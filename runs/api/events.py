"""Events over REST: record a batch, page through matches, count them by name, resource or time."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Literal

from django.core import signing
from django.db.models import Count, Max, Min
from ninja import Body, Query, Router
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from runs.domain.events import event_to_wire, read_events, record_events
from runs.events.filters import EventFilter
from runs.events.schemas import EventIn
from runs.models import Event

from .base import detail, no_content

router = Router(tags=["Events"])

DEFAULT_PAGE_SIZE = 50
PAGE_TOKEN_SALT = "runs.events.page"
MAX_TIME_BUCKETS = 1000


class ReadEventsBody(BaseModel):
    model_config = ConfigDict(extra="ignore")

    filter: EventFilter | None = None
    limit: int = Field(default=DEFAULT_PAGE_SIZE, ge=0, le=DEFAULT_PAGE_SIZE)

    @field_validator("limit", mode="before")
    @classmethod
    def null_limit(cls, value):
        return DEFAULT_PAGE_SIZE if value is None else value


class CountEventsBody(BaseModel):
    model_config = ConfigDict(extra="ignore")

    filter: EventFilter
    time_unit: Literal["week", "day", "hour", "minute", "second"] = "day"
    time_interval: float = Field(default=1.0, ge=0.01)


@router.post("/events", response={204: None})
def create_events(request, events: list[EventIn] = Body(...)):
    record_events(events)
    return no_content()


def event_page(request, event_filter: EventFilter, limit: int, offset: int) -> dict:
    events, total = read_events(filter=event_filter, limit=limit, offset=offset)
    next_page = None
    if offset + len(events) < total and limit:
        token = signing.dumps(
            {"filter": event_filter.model_dump(mode="json"), "limit": limit, "offset": offset + limit},
            salt=PAGE_TOKEN_SALT,
            compress=True,
        )
        base = request.path if request.path.endswith("/next") else request.path + "/next"
        next_page = request.build_absolute_uri(base) + "?page-token=" + token
    return {"events": [event_to_wire(event) for event in events], "total": total, "next_page": next_page}


@router.post("/events/filter", openapi_extra={"requestBody": {"content": {"application/json": {
    "schema": ReadEventsBody.model_json_schema(ref_template="#/components/schemas/{model}")}}}})
def read_events_page(request):
    # Parsed here rather than by ninja: the body is optional, and an empty one means "all defaults".
    try:
        body = ReadEventsBody.model_validate_json(request.body or b"{}")
    except ValidationError as exc:
        return detail(request, exc.errors(include_url=False, include_context=False, include_input=False), 422)
    return event_page(request, body.filter or EventFilter(), body.limit, 0)


@router.get("/events/filter/next")
def read_next_events_page(request, page_token: str = Query(..., alias="page-token")):
    try:
        # The token carries the query itself, so any server instance can answer it.
        state = signing.loads(page_token, salt=PAGE_TOKEN_SALT)
        event_filter = EventFilter.model_validate(state["filter"])
        limit, offset = int(state["limit"]), int(state["offset"])
    except (signing.BadSignature, KeyError, TypeError, ValueError):
        return detail(request, "Invalid page token", 403)
    return event_page(request, event_filter, limit, offset)


@router.post("/events/count-by/{countable}")
def count_events(request, countable: Literal["day", "time", "event", "resource"], body: CountEventsBody):
    matching = Event.objects.filter(body.filter.to_q())
    if countable in ("event", "resource"):
        column = "event" if countable == "event" else "resource_id"
        groups = (
            matching.values(column)
            .annotate(count=Count("id"), start_time=Min("occurred"), end_time=Max("occurred"))
            .order_by(column)
        )
        labels = resource_names([g[column] for g in groups]) if countable == "resource" else {}
        return [
            {
                "value": group[column],
                "label": labels.get(group[column], group[column]),
                "count": group["count"],
                "start_time": group["start_time"],
                "end_time": group["end_time"],
            }
            for group in groups
        ]
    return count_by_time(request, matching, body)


def resource_names(resource_ids: list[str]) -> dict[str, str]:
    """The latest `prefect.resource.name` of each resource, where it has one."""
    names = {}
    rows = (
        Event.objects.filter(resource_id__in=resource_ids).order_by("occurred").values_list("resource_id", "resource")
    )
    for resource_id, resource in rows:
        if resource.get("prefect.resource.name"):
            names[resource_id] = resource["prefect.resource.name"]
    return names


TIME_UNITS = {
    "week": timedelta(weeks=1),
    "day": timedelta(days=1),
    "hour": timedelta(hours=1),
    "minute": timedelta(minutes=1),
    "second": timedelta(seconds=1),
}


def count_by_time(request, matching, body: CountEventsBody):
    """Counts per time span from `since` to `until`, empty spans included."""
    span = TIME_UNITS[body.time_unit] * body.time_interval
    since, until = body.filter.occurred.since, body.filter.occurred.until
    buckets = int((until - since) / span) + 1
    if buckets > MAX_TIME_BUCKETS:
        message = f"The time range would make {buckets} buckets; at most {MAX_TIME_BUCKETS} are allowed"
        return detail(request, message, 422)
    counts = [0] * buckets
    for occurred in matching.values_list("occurred", flat=True).iterator():
        counts[min(int((occurred - since) / span), buckets - 1)] += 1
    result = []
    for index, count in enumerate(counts):
        start: datetime = since + span * index
        end = min(start + span, until)
        result.append({"value": start, "label": start, "count": count, "start_time": start, "end_time": end})
    return result

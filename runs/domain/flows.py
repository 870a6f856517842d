"""Flows: created on first use by name, read, filtered, deleted."""

from django.db import IntegrityError, transaction

from runs.models import Flow

from . import filters
from .errors import NotFound


def create_flow(*, name: str, tags: list[str] | None = None, labels: dict | None = None) -> tuple[Flow, bool]:
    """The flow with this name, created if new. Returns (flow, created)."""
    flow = Flow.objects.filter(name=name).first()
    if flow:
        return flow, False
    try:
        with transaction.atomic():
            return Flow.objects.create(name=name, tags=tags or [], labels=labels or {}), True
    except IntegrityError:  # another request created it first
        return Flow.objects.get(name=name), False


def read_flow(*, flow_id) -> Flow:
    try:
        return Flow.objects.get(id=flow_id)
    except Flow.DoesNotExist:
        raise NotFound("Flow not found") from None


def read_flow_by_name(*, name: str) -> Flow:
    try:
        return Flow.objects.get(name=name)
    except Flow.DoesNotExist:
        raise NotFound("Flow not found") from None


def update_flow(*, flow_id, tags: list[str] | None = None) -> None:
    flow = read_flow(flow_id=flow_id)
    if tags is not None:
        flow.tags = tags
        flow.save(update_fields=["tags", "updated"])


def delete_flow(*, flow_id) -> None:
    deleted, _ = Flow.objects.filter(id=flow_id).delete()
    if not deleted:
        raise NotFound("Flow not found")


FLOW_SORTS = {
    "CREATED_DESC": ["-created", "-id"],
    "UPDATED_DESC": ["-updated", "-id"],
    "NAME_ASC": ["name"],
    "NAME_DESC": ["-name"],
}


def read_flows(*, sort: str = "NAME_ASC", window: slice | None = None, **filter_kwargs):
    queryset = Flow.objects.filter(filters.flow_q(**filter_kwargs)).order_by(*FLOW_SORTS[sort])
    return list(queryset[window] if window else queryset)


def count_flows(**filter_kwargs) -> int:
    return Flow.objects.filter(filters.flow_q(**filter_kwargs)).count()


def delete_flows(**filter_kwargs) -> list:
    ids = list(Flow.objects.filter(filters.flow_q(**filter_kwargs)).values_list("id", flat=True)[:200])
    Flow.objects.filter(id__in=ids).delete()
    return ids

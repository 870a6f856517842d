"""Saved searches: named filter sets for the runs list, saved by name (saving again replaces the filters)."""

from __future__ import annotations

from typing import Any

from django.db import IntegrityError, transaction
from pydantic import BaseModel, ConfigDict

from runs.models import SavedSearch

from .errors import InvalidInput, NotFound

MAX_NAME_LENGTH = 255


class SavedSearchFilter(BaseModel):
    """One filter as the UI stores it: which object and property, its type, the operation and value."""

    model_config = ConfigDict(extra="ignore")

    object: str
    property: str
    type: str
    operation: str
    value: Any


def save_search(*, name: str, filters: list[SavedSearchFilter]) -> tuple[SavedSearch, bool]:
    """Create the search, or replace the filters of the one with this name. Returns (search, created)."""
    if not name or len(name) > MAX_NAME_LENGTH:
        raise InvalidInput(f"A saved search needs a name of 1 to {MAX_NAME_LENGTH} characters.")
    stored = [item.model_dump(mode="json") for item in filters]
    for attempt in range(2):
        try:
            with transaction.atomic():
                search = SavedSearch.objects.select_for_update().filter(name=name).first()
                if search is not None:
                    search.filters = stored
                    search.save(update_fields=["filters", "updated"])
                    return search, False
                return SavedSearch.objects.create(name=name, filters=stored), True
        except IntegrityError:
            if attempt:  # a concurrent save created it between our read and insert: update it instead
                raise
    raise AssertionError("unreachable")


def read_saved_search(*, saved_search_id) -> SavedSearch:
    try:
        return SavedSearch.objects.get(id=saved_search_id)
    except SavedSearch.DoesNotExist:
        raise NotFound("Saved search not found") from None


def read_saved_searches(*, window: slice) -> list[SavedSearch]:
    return list(SavedSearch.objects.order_by("name", "id")[window])


def delete_saved_search(*, saved_search_id) -> None:
    deleted, _ = SavedSearch.objects.filter(id=saved_search_id).delete()
    if not deleted:
        raise NotFound("Saved search not found")

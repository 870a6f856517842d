"""An event as it arrives on the wire, validated once for REST, the websocket and server-side callers."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, field_validator

MAX_RELATED_RESOURCES = 100
MAX_LABELS_PER_RESOURCE = 500


def check_resource(resource: dict[str, str], what: str, needs_role: bool) -> dict[str, str]:
    if len(resource) > MAX_LABELS_PER_RESOURCE:
        raise ValueError(f"{what} has {len(resource)} labels; at most {MAX_LABELS_PER_RESOURCE} are allowed")
    if not resource.get("prefect.resource.id"):
        raise ValueError(f"{what} needs a non-empty 'prefect.resource.id' label")
    if needs_role and "prefect.resource.role" not in resource:
        raise ValueError(f"{what} needs a 'prefect.resource.role' label")
    return resource


class EventIn(BaseModel):
    # Label values are strings on the wire; numbers from server-side callers are accepted as text.
    model_config = ConfigDict(extra="ignore", coerce_numbers_to_str=True)

    occurred: datetime
    event: str = Field(min_length=1, max_length=1024)
    resource: dict[str, str]
    related: list[dict[str, str]] = Field(default_factory=list)
    payload: dict[str, Any] = Field(default_factory=dict)
    id: UUID
    follows: UUID | None = None

    @field_validator("occurred", mode="after")
    @classmethod
    def assume_utc(cls, value: datetime) -> datetime:
        return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value

    @field_validator("resource", mode="after")
    @classmethod
    def valid_resource(cls, value: dict[str, str]) -> dict[str, str]:
        return check_resource(value, "resource", needs_role=False)

    @field_validator("related", mode="before")
    @classmethod
    def null_related(cls, value):
        return [] if value is None else value

    @field_validator("payload", mode="before")
    @classmethod
    def null_payload(cls, value):
        return {} if value is None else value

    @field_validator("related", mode="after")
    @classmethod
    def valid_related(cls, value: list[dict[str, str]]) -> list[dict[str, str]]:
        if len(value) > MAX_RELATED_RESOURCES:
            raise ValueError(f"{len(value)} related resources; at most {MAX_RELATED_RESOURCES} are allowed")
        for index, resource in enumerate(value):
            check_resource(resource, f"related[{index}]", needs_role=True)
        return value

    @property
    def resource_id(self) -> str:
        return self.resource["prefect.resource.id"]

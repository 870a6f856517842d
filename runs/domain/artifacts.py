"""Artifacts: what runs publish (markdown, tables, links, images, progress), and the latest one per key."""

from __future__ import annotations

import re
import uuid
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from runs.models import Artifact, ArtifactCollection, FlowRun, TaskRun

from . import filters
from .errors import InvalidInput, NotFound

KEY_PATTERN = re.compile(r"^[a-z0-9-]+$")
MAX_METADATA_VALUE_LENGTH = 500
KNOWN_TYPES = ("markdown", "table", "link", "image", "progress", "result")

ARTIFACT_SORTS = {
    "CREATED_DESC": ["-created", "-id"],
    "UPDATED_DESC": ["-updated", "-id"],
    "ID_DESC": ["-id"],
    "KEY_DESC": ["-key", "-id"],
    "KEY_ASC": ["key", "id"],
}


class KeyFilter(filters.FilterModel):
    any_: list[str] | None = None
    like_: str | None = None
    exists_: bool | None = None

    def to_q(self, prefix: str = "", field: str = "key") -> Q:
        return filters.combine([
            filters.when(self.any_ is not None, Q(**{f"{prefix}{field}__in": self.any_ or []})),
            filters.when(self.like_, Q(**{f"{prefix}{field}__icontains": self.like_})),
            filters.when(self.exists_ is not None, Q(**{f"{prefix}{field}__isnull": not self.exists_})),
        ])


class TypeFilter(filters.FilterModel):
    any_: list[str] | None = None
    not_any_: list[str] | None = None

    def to_q(self, prefix: str = "", field: str = "type") -> Q:
        return filters.combine([
            filters.when(self.any_ is not None, Q(**{f"{prefix}{field}__in": self.any_ or []})),
            filters.when(self.not_any_, ~Q(**{f"{prefix}{field}__in": self.not_any_ or []})),
        ])


class AnyIdFilter(filters.FilterModel):
    any_: list[uuid.UUID] | None = None

    def to_q(self, prefix: str = "", field: str = "id") -> Q:
        return filters.when(self.any_ is not None, Q(**{f"{prefix}{field}__in": self.any_ or []}))


class ArtifactFilter(filters.OperatorFilter):
    id: AnyIdFilter | None = None
    key: KeyFilter | None = None
    flow_run_id: AnyIdFilter | None = None
    task_run_id: AnyIdFilter | None = None
    type: TypeFilter | None = None

    def id_part(self) -> tuple[AnyIdFilter | None, str]:
        """The id criterion and the column it applies to (collections filter on their latest artifact)."""
        return self.id, "id"

    def to_q(self, prefix: str = "") -> Q:
        id_filter, id_column = self.id_part()
        return filters.combine([
            id_filter.to_q(prefix, id_column) if id_filter else filters.ALL,
            self.key.to_q(prefix) if self.key else filters.ALL,
            self.flow_run_id.to_q(prefix, "flow_run_id") if self.flow_run_id else filters.ALL,
            self.task_run_id.to_q(prefix, "task_run_id") if self.task_run_id else filters.ALL,
            self.type.to_q(prefix) if self.type else filters.ALL,
        ], self.operator)


class ArtifactCollectionFilter(ArtifactFilter):
    """The same criteria, on the collections of latest artifacts by key: `latest_id` for `id`."""

    latest_id: AnyIdFilter | None = None

    def id_part(self) -> tuple[AnyIdFilter | None, str]:
        return self.latest_id, "latest_id"


def run_filters_q(*, flows=None, flow_runs=None, task_runs=None, deployments=None) -> Q:
    """Artifacts whose flow run (or task run) matches the run filters of a /filter body."""
    clauses = []
    run_q = filters.flow_run_q(flows=flows, flow_runs=flow_runs, deployments=deployments)
    if run_q != filters.ALL:
        clauses.append(Q(flow_run_id__in=FlowRun.objects.filter(run_q).values("id")))
    task_q = task_runs.to_q() if task_runs else filters.ALL
    if task_q != filters.ALL:
        clauses.append(Q(task_run_id__in=TaskRun.objects.filter(task_q).values("id")))
    return filters.combine(clauses)


def validate_key(key: Any) -> str | None:
    if key is None:
        return None
    if not isinstance(key, str) or not KEY_PATTERN.match(key) or len(key) > 255:
        raise InvalidInput("Artifact key must only contain lowercase letters, numbers, and dashes.")
    return key


def clean_metadata(metadata: Any) -> dict[str, str] | None:
    if metadata is None:
        return None
    if not isinstance(metadata, dict):
        raise InvalidInput("Artifact metadata_ must be an object of string keys and values.")
    # Long values are shortened rather than refused, as the client expects.
    return {
        str(key): (text if len(text := str(value)) <= MAX_METADATA_VALUE_LENGTH else text[:MAX_METADATA_VALUE_LENGTH] + "...")
        for key, value in metadata.items()
    }


COLLECTION_FIELDS = ("type", "description", "data", "metadata", "flow_run_id", "task_run_id")


def point_collection_at(artifact: Artifact) -> None:
    """Make `artifact` the latest of its key (inside the caller's transaction)."""
    values = {"latest": artifact, "updated": timezone.now(), **{name: getattr(artifact, name) for name in COLLECTION_FIELDS}}
    updated = ArtifactCollection.objects.filter(key=artifact.key).update(**values)
    if not updated:
        try:
            with transaction.atomic():
                ArtifactCollection.objects.create(key=artifact.key, **values)
        except IntegrityError:  # created concurrently for the same key: ours is newer
            ArtifactCollection.objects.filter(key=artifact.key).update(**values)


def create_artifact(*, key=None, type=None, description=None, data=None, metadata=None, flow_run_id=None,
                    task_run_id=None) -> Artifact:
    with transaction.atomic():
        artifact = Artifact.objects.create(
            key=validate_key(key), type=type, description=description, data=data, metadata=clean_metadata(metadata),
            flow_run_id=flow_run_id, task_run_id=task_run_id,
        )
        if artifact.key:
            point_collection_at(artifact)
    return artifact


def read_artifact(*, artifact_id) -> Artifact:
    try:
        return Artifact.objects.get(id=artifact_id)
    except Artifact.DoesNotExist:
        raise NotFound("Artifact not found.") from None


def read_latest_artifact(*, key: str) -> Artifact:
    collection = ArtifactCollection.objects.select_related("latest").filter(key=key).first()
    if collection is None:
        raise NotFound("Artifact not found.")
    return collection.latest


UNSET = object()


def update_artifact(*, artifact_id, data=UNSET, description=UNSET, metadata=UNSET) -> None:
    """Change the given fields (progress artifacts are updated this way as work advances)."""
    with transaction.atomic():
        artifact = Artifact.objects.select_for_update().filter(id=artifact_id).first()
        if artifact is None:
            raise NotFound("Artifact not found.")
        changed = []
        for name, value in (("data", data), ("description", description), ("metadata", metadata)):
            if value is not UNSET:
                setattr(artifact, name, clean_metadata(value) if name == "metadata" else value)
                changed.append(name)
        if changed:
            artifact.save(update_fields=[*changed, "updated"])
            if artifact.key:
                ArtifactCollection.objects.filter(key=artifact.key, latest=artifact).update(
                    **{name: getattr(artifact, name) for name in changed}
                )


def delete_artifact(*, artifact_id) -> None:
    with transaction.atomic():
        artifact = Artifact.objects.select_for_update().filter(id=artifact_id).first()
        if artifact is None:
            raise NotFound("Artifact not found.")
        if artifact.key and ArtifactCollection.objects.filter(key=artifact.key, latest=artifact).exists():
            previous = (
                Artifact.objects.filter(key=artifact.key).exclude(id=artifact.id).order_by("-created", "-id").first()
            )
            if previous:
                point_collection_at(previous)
            else:
                ArtifactCollection.objects.filter(key=artifact.key).delete()
        artifact.delete()


def artifact_q(*, artifacts: ArtifactFilter | None = None, **run_filters) -> Q:
    return filters.combine([artifacts.to_q() if artifacts else filters.ALL, run_filters_q(**run_filters)])


def read_artifacts(*, sort: str = "ID_DESC", window: slice | None = None, **filter_kwargs) -> list[Artifact]:
    queryset = Artifact.objects.filter(artifact_q(**filter_kwargs)).order_by(*ARTIFACT_SORTS[sort])
    return list(queryset[window] if window else queryset)


def count_artifacts(**filter_kwargs) -> int:
    return Artifact.objects.filter(artifact_q(**filter_kwargs)).count()


def collection_q(*, artifacts: ArtifactCollectionFilter | None = None, **run_filters) -> Q:
    return filters.combine([artifacts.to_q() if artifacts else filters.ALL, run_filters_q(**run_filters)])


def read_latest_artifacts(*, sort: str = "ID_DESC", window: slice | None = None, **filter_kwargs):
    queryset = ArtifactCollection.objects.filter(collection_q(**filter_kwargs)).order_by(*ARTIFACT_SORTS[sort])
    return list(queryset[window] if window else queryset)


def count_latest_artifacts(**filter_kwargs) -> int:
    return ArtifactCollection.objects.filter(collection_q(**filter_kwargs)).count()


def read_artifact_history(*, key: str, window: slice | None = None) -> list[Artifact]:
    queryset = Artifact.objects.filter(key=key).order_by("-created", "-id")
    return list(queryset[window] if window else queryset)

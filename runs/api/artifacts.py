from datetime import datetime
from typing import Any, Literal
from uuid import UUID

from ninja import Router, Schema

from runs.domain import artifacts as domain
from runs.domain import filters

from .base import json_response, no_content
from .common import InputSchema, Paging

router = Router(tags=["Artifacts"])

ArtifactSort = Literal[tuple(domain.ARTIFACT_SORTS)]


class ArtifactCreate(InputSchema):
    key: str | None = None
    type: str | None = None
    description: str | None = None
    data: Any = None
    metadata_: dict[str, Any] | None = None
    flow_run_id: UUID | None = None
    task_run_id: UUID | None = None


class ArtifactUpdate(InputSchema):
    data: Any = None
    description: str | None = None
    metadata_: dict[str, Any] | None = None


class ArtifactOut(Schema):
    id: UUID
    created: datetime
    updated: datetime
    key: str | None
    type: str | None
    description: str | None
    data: Any = None
    metadata_: dict | None
    flow_run_id: UUID | None
    task_run_id: UUID | None


class ArtifactCollectionOut(ArtifactOut):
    latest_id: UUID


class RunFilters(InputSchema):
    flows: filters.FlowFilter | None = None
    flow_runs: filters.FlowRunFilter | None = None
    task_runs: filters.TaskRunFilter | None = None
    deployments: filters.DeploymentFilter | None = None

    def run_filters(self) -> dict:
        return {"flows": self.flows, "flow_runs": self.flow_runs, "task_runs": self.task_runs,
                "deployments": self.deployments}


class ArtifactCountBody(RunFilters):
    artifacts: domain.ArtifactFilter | None = None


class ArtifactFilterBody(ArtifactCountBody, Paging):
    sort: ArtifactSort | None = None


class LatestCountBody(RunFilters):
    artifacts: domain.ArtifactCollectionFilter | None = None


class LatestFilterBody(LatestCountBody, Paging):
    sort: ArtifactSort | None = None


def artifact_json(artifact) -> dict:
    return {
        "id": artifact.id,
        "created": artifact.created,
        "updated": artifact.updated,
        "key": artifact.key,
        "type": artifact.type,
        "description": artifact.description,
        "data": artifact.data,
        "metadata_": artifact.metadata,
        "flow_run_id": artifact.flow_run_id,
        "task_run_id": artifact.task_run_id,
    }


def collection_json(collection) -> dict:
    return {**artifact_json(collection), "latest_id": collection.latest_id}


@router.post("/artifacts/", response={201: ArtifactOut})
def create_artifact(request, body: ArtifactCreate):
    fields = body.model_dump()
    fields["metadata"] = fields.pop("metadata_")
    return json_response(artifact_json(domain.create_artifact(**fields)), status=201)


@router.post("/artifacts/filter", response=list[ArtifactOut])
def read_artifacts(request, body: ArtifactFilterBody | None = None):
    body = body or ArtifactFilterBody()
    artifacts = domain.read_artifacts(
        sort=body.sort or "ID_DESC", window=body.window(), artifacts=body.artifacts, **body.run_filters()
    )
    return json_response([artifact_json(artifact) for artifact in artifacts])


@router.post("/artifacts/count", response=int)
def count_artifacts(request, body: ArtifactCountBody | None = None):
    body = body or ArtifactCountBody()
    return domain.count_artifacts(artifacts=body.artifacts, **body.run_filters())


@router.post("/artifacts/latest/filter", response=list[ArtifactCollectionOut])
def read_latest_artifacts(request, body: LatestFilterBody | None = None):
    body = body or LatestFilterBody()
    collections = domain.read_latest_artifacts(
        sort=body.sort or "ID_DESC", window=body.window(), artifacts=body.artifacts, **body.run_filters()
    )
    return json_response([collection_json(collection) for collection in collections])


@router.post("/artifacts/latest/count", response=int)
def count_latest_artifacts(request, body: LatestCountBody | None = None):
    body = body or LatestCountBody()
    return domain.count_latest_artifacts(artifacts=body.artifacts, **body.run_filters())


@router.get("/artifacts/{key}/latest", response=ArtifactOut)
def read_latest_artifact(request, key: str):
    return json_response(artifact_json(domain.read_latest_artifact(key=key)))


@router.get("/artifacts/{id}", response=ArtifactOut)
def read_artifact(request, id: UUID):
    return json_response(artifact_json(domain.read_artifact(artifact_id=id)))


@router.patch("/artifacts/{id}")
def update_artifact(request, id: UUID, body: ArtifactUpdate):
    changes = {("metadata" if name == "metadata_" else name): getattr(body, name) for name in body.model_fields_set}
    domain.update_artifact(artifact_id=id, **changes)
    return no_content()


@router.delete("/artifacts/{id}")
def delete_artifact(request, id: UUID):
    domain.delete_artifact(artifact_id=id)
    return no_content()

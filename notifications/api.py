"""JSON API for notification policies and their deliveries, mounted under /api/ with the rest.

Thin: each endpoint calls one function of notifications.policies / notifications.deliveries. Channel
configs go out with secrets masked; sending a masked value back keeps the stored secret.
"""

from datetime import datetime
from typing import Any
from uuid import UUID

from ninja import Query, Router, Schema, Status
from pydantic import Field

from runs.api.base import no_content
from runs.api.common import InputSchema, Paging

from . import deliveries as delivery_domain
from . import policies as policy_domain
from .models import DeliveryStatus

router = Router(tags=["Notifications"])


class PolicyCreate(InputSchema):
    # Types are checked loosely here and strictly in notifications.policies, so the API and the pages
    # give the same messages (with per-field errors).
    name: str | None = None
    state_names: Any
    tags: Any = None
    channel: Any
    channel_config: Any = None
    message_template: str | None = None
    is_active: bool = True


class PolicyUpdate(InputSchema):
    name: str | None = None
    state_names: Any = None
    tags: Any = None
    channel: Any = None
    channel_config: Any = None
    message_template: str | None = None
    is_active: bool | None = None

    def changes(self) -> dict:
        return {field: getattr(self, field) for field in self.model_fields_set}


class PolicyOut(Schema):
    id: UUID
    created: datetime
    updated: datetime
    name: str
    state_names: list[str]
    tags: list[str]
    channel: str
    channel_config: dict = Field(description="The channel's settings; secret fields are masked.")
    message_template: str
    is_active: bool


class AttemptOut(Schema):
    number: int
    started_at: datetime
    finished_at: datetime | None
    status_code: int | None
    error: str
    response_excerpt: str


class DeliveryOut(Schema):
    id: UUID
    created: datetime
    policy_id: UUID
    flow_run_id: UUID | None
    state_id: UUID | None
    is_test: bool
    subject: str
    body: str
    run_url: str
    status: DeliveryStatus
    attempt_count: int
    next_attempt_at: datetime | None
    sent_at: datetime | None
    last_error: str
    attempts: list[AttemptOut]


class PolicyFilterBody(Paging):
    notification_policies: policy_domain.PolicyFilter | None = None


class PolicyCountBody(InputSchema):
    notification_policies: policy_domain.PolicyFilter | None = None


class DeliveryFilterBody(Paging):
    deliveries: delivery_domain.DeliveryFilter | None = None


class DeliveryPage(Schema):
    limit: int | None = Field(default=None, ge=0, le=200)
    offset: int | None = Field(default=None, ge=0)


def policy_json(policy) -> dict:
    return {
        "id": policy.id,
        "created": policy.created,
        "updated": policy.updated,
        "name": policy.name,
        "state_names": policy.state_names,
        "tags": policy.tags,
        "channel": policy.channel,
        "channel_config": policy_domain.shown_config(policy),
        "message_template": policy.message_template,
        "is_active": policy.is_active,
    }


def delivery_json(delivery) -> dict:
    return {
        "id": delivery.id,
        "created": delivery.created,
        "policy_id": delivery.policy_id,
        "flow_run_id": delivery.flow_run_id,
        "state_id": delivery.state_id,
        "is_test": delivery.is_test,
        "subject": delivery.subject,
        "body": delivery.body,
        "run_url": delivery.run_url,
        "status": delivery.status,
        "attempt_count": delivery.attempt_count,
        "next_attempt_at": delivery.next_attempt_at,
        "sent_at": delivery.sent_at,
        "last_error": delivery.last_error,
        "attempts": [
            {
                "number": attempt.number,
                "started_at": attempt.started_at,
                "finished_at": attempt.finished_at,
                "status_code": attempt.status_code,
                "error": attempt.error,
                "response_excerpt": attempt.response_excerpt,
            }
            for attempt in delivery.attempts.all()
        ],
    }


@router.post("/notification_policies/", response={201: PolicyOut})
def create_notification_policy(request, body: PolicyCreate):
    policy = policy_domain.create_policy(
        name=body.name or "",
        state_names=body.state_names,
        tags=body.tags,
        channel=body.channel,
        channel_config=body.channel_config,
        message_template=body.message_template or "",
        is_active=body.is_active,
    )
    return Status(201, policy_json(policy))


@router.post("/notification_policies/filter", response=list[PolicyOut])
def read_notification_policies(request, body: PolicyFilterBody | None = None):
    body = body or PolicyFilterBody()
    window = body.window()
    found = policy_domain.read_policies(
        policies=body.notification_policies, limit=window.stop - window.start, offset=window.start
    )
    return [policy_json(policy) for policy in found]


@router.post("/notification_policies/count", response=int)
def count_notification_policies(request, body: PolicyCountBody | None = None):
    return policy_domain.count_policies(policies=(body or PolicyCountBody()).notification_policies)


@router.get("/notification_policies/{id}", response=PolicyOut)
def read_notification_policy(request, id: UUID):
    return policy_json(policy_domain.read_policy(policy_id=id))


@router.patch("/notification_policies/{id}", response={204: None})
def update_notification_policy(request, id: UUID, body: PolicyUpdate):
    policy_domain.update_policy(policy_id=id, **body.changes())
    return no_content()


@router.delete("/notification_policies/{id}", response={204: None})
def delete_notification_policy(request, id: UUID):
    policy_domain.delete_policy(policy_id=id)
    return no_content()


@router.post("/notification_policies/{id}/pause", response={204: None})
def pause_notification_policy(request, id: UUID):
    policy_domain.pause_policy(policy_id=id)
    return no_content()


@router.post("/notification_policies/{id}/resume", response={204: None})
def resume_notification_policy(request, id: UUID):
    policy_domain.resume_policy(policy_id=id)
    return no_content()


@router.post("/notification_policies/{id}/test", response={201: DeliveryOut})
def send_test_notification(request, id: UUID):
    delivery = delivery_domain.send_test_message(policy_domain.read_policy(policy_id=id))
    return Status(201, delivery_json(delivery))


@router.get("/notification_policies/{id}/deliveries", response=list[DeliveryOut])
def read_notification_policy_deliveries(request, id: UUID, page: Query[DeliveryPage]):
    found = delivery_domain.read_policy_deliveries(
        policy_id=id, limit=page.limit if page.limit is not None else 50, offset=page.offset or 0
    )
    return [delivery_json(delivery) for delivery in found]


@router.post("/notification_deliveries/filter", response=list[DeliveryOut])
def read_notification_deliveries(request, body: DeliveryFilterBody | None = None):
    body = body or DeliveryFilterBody()
    window = body.window()
    found = delivery_domain.read_deliveries(deliveries=body.deliveries, limit=window.stop - window.start, offset=window.start)
    return [delivery_json(delivery) for delivery in found]

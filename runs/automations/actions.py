"""Carrying out an automation's actions, in order, each announced by events.

Every action emits `prefect.automation.action.triggered` and then `.executed` or `.failed` (with the
reason), naming the automation, the resources it acted on (role `target`, a created `flow-run`...),
the automation.triggered event and the triggering event. Actions work through the domain functions,
never on models directly; a domain refusal (not found, conflict, invalid) fails the action with its
message instead of failing the job, so later actions still run.
"""

from __future__ import annotations

import ipaddress
import logging
import socket
import uuid
from datetime import datetime, timedelta
from urllib.parse import urlsplit

import requests
from django.db import transaction
from django.utils import timezone

from runs.domain import automations as automation_domain
from runs.domain import blocks, deployments, flow_run_inputs, flow_runs, work_pools, work_queues
from runs.domain.errors import DomainError, NotFound
from runs.domain.events import publish_event

from .triggers import parse_instant

logger = logging.getLogger(__name__)

WEBHOOK_TIMEOUT_SECONDS = 30
RESPONSE_BODY_KEPT = 1000
REDACTED_HEADERS = {"authorization", "cookie", "set-cookie", "proxy-authorization", "x-api-key"}
SUSPEND_TIMEOUT = timedelta(hours=1)
# `follows` links an action's event to the triggering event only when they are this close.
FOLLOWS_WINDOW = timedelta(minutes=5)


class ActionFailed(Exception):
    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


class Invocation:
    """One action of one firing: what it needs to know, and what it reports in its events."""

    def __init__(self, job: dict, planned: dict):
        self.automation = job["automation"]
        self.triggered = parse_instant(job["triggered"])
        self.triggering_labels = job.get("triggering_labels") or {}
        self.automation_triggered_event_id = job.get("automation_triggered_event_id")
        self.id = f"{job['invocation']}-{planned['index']}"
        self.index = planned["index"]
        self.action = planned["action"]
        self.event = planned.get("triggering_event")
        self.related: list[dict] = []
        self.details: dict = {}

    @property
    def automation_id(self) -> str:
        return self.automation["id"]

    def target(self, kind: str, object_id, role: str = "target", **labels) -> None:
        self.related.append({"prefect.resource.id": f"prefect.{kind}.{object_id}", "prefect.resource.role": role,
                             **{key: str(value) for key, value in labels.items()}})

    def idempotency_key(self) -> str:
        return f"automation {self.automation_id}, action {self.index}, invocation {self.id}"


# Finding what to act on ----------------------------------------------------------------------------


def involved_resources(event: dict | None) -> list[dict]:
    return [event["resource"], *(event.get("related") or [])] if event else []


def id_of_kind(resource_id: str, kind: str) -> uuid.UUID | None:
    prefix, _, object_id = resource_id.rpartition(".")
    if prefix != kind:
        return None
    try:
        return uuid.UUID(object_id)
    except ValueError:
        return None


def first_id_of_kind(event: dict | None, kind: str) -> uuid.UUID | None:
    for resource in involved_resources(event):
        if resource.get("prefect.resource.id", "").rpartition(".")[0] == kind:
            return id_of_kind(resource["prefect.resource.id"], kind)
    return None


def selected_or_inferred(invocation: Invocation, field: str, kind: str, what: str) -> uuid.UUID:
    action = invocation.action
    if action.get("source", "selected") == "selected":
        return uuid.UUID(str(action[field]))
    if not invocation.event:
        raise ActionFailed(f"No event to infer the {what}")
    found = first_id_of_kind(invocation.event, kind)
    if found is None:
        raise ActionFailed(f"No {what} could be inferred")
    return found


def inferred_flow_run(invocation: Invocation) -> uuid.UUID:
    """The flow run a for_each bucket was about (proactive triggers have no event), else the
    triggering event's."""
    labelled = invocation.triggering_labels.get("prefect.resource.id")
    if labelled and (found := id_of_kind(labelled, "prefect.flow-run")):
        return found
    found = first_id_of_kind(invocation.event, "prefect.flow-run")
    if found is None:
        raise ActionFailed("No flow run could be inferred")
    return found


def refused(invocation: Invocation, exc: DomainError) -> ActionFailed:
    if isinstance(exc, NotFound):
        return ActionFailed(f"{exc} ({invocation.action['type']!r})")
    return ActionFailed(f"Validation error occurred for {invocation.action['type']!r} - {exc}")


# The actions ---------------------------------------------------------------------------------------


def do_nothing(invocation: Invocation) -> None:
    logger.info("Automation %s: doing nothing", invocation.automation_id)


def contains_placeholders(value) -> bool:
    if isinstance(value, dict):
        return "__prefect_kind" in value or any(contains_placeholders(item) for item in value.values())
    if isinstance(value, list):
        return any(contains_placeholders(item) for item in value)
    return False


def run_deployment(invocation: Invocation) -> None:
    action = invocation.action
    deployment_id = selected_or_inferred(invocation, "deployment_id", "prefect.deployment", "deployment")
    invocation.target("deployment", deployment_id)
    parameters = action.get("parameters") or {}
    if contains_placeholders(parameters):
        raise ActionFailed("Templated parameters (__prefect_kind values) are not supported by this server")
    when = timezone.now() + timedelta(seconds=action.get("schedule_after") or 0)
    fields = {"job_variables": action["job_variables"]} if action.get("job_variables") is not None else {}
    run, _ = deployments.create_flow_run_from_deployment(
        deployment_id=deployment_id, parameters=parameters, state=deployments.scheduled_state(when),
        idempotency_key=invocation.idempotency_key(), **fields,
    )
    invocation.target("flow-run", run.id, role="flow-run", **{"prefect.resource.name": run.name})


def pause_deployment(invocation: Invocation, paused: bool = True) -> None:
    deployment_id = selected_or_inferred(invocation, "deployment_id", "prefect.deployment", "deployment")
    invocation.target("deployment", deployment_id)
    deployments.set_deployment_paused(deployment_id=deployment_id, paused=paused)


def resume_deployment(invocation: Invocation) -> None:
    pause_deployment(invocation, paused=False)


def change_state(invocation: Invocation, state: dict, force: bool = False) -> None:
    flow_run_id = inferred_flow_run(invocation)
    invocation.target("flow-run", flow_run_id)
    result = flow_runs.set_flow_run_state(flow_run_id=flow_run_id, state=state, force=force)
    if result.status != "ACCEPT":
        raise ActionFailed(f"Failed to set state: {(result.details or {}).get('reason')}")


def cancel_flow_run(invocation: Invocation) -> None:
    change_state(invocation, {"type": "CANCELLING", "message": f"Cancelled by Automation {invocation.automation_id}"})


def suspend_flow_run(invocation: Invocation) -> None:
    timeout = (timezone.now() + SUSPEND_TIMEOUT).isoformat()
    change_state(invocation, {
        "type": "PAUSED", "name": "Suspended", "message": f"Suspended by Automation {invocation.automation_id}",
        "state_details": {"pause_timeout": timeout, "pause_reschedule": True, "pause_key": None},
    })


def change_flow_run_state(invocation: Invocation) -> None:
    action = invocation.action
    message = action.get("message") or f"State changed by Automation {invocation.automation_id}"
    change_state(invocation, {"type": action["state"], "name": action.get("name"), "message": message},
                 force=bool(action.get("force")))


def resume_flow_run(invocation: Invocation) -> None:
    flow_run_id = inferred_flow_run(invocation)
    invocation.target("flow-run", flow_run_id)
    result = flow_run_inputs.resume_flow_run(flow_run_id=flow_run_id)
    if result.status != "ACCEPT":
        raise ActionFailed(f"Failed to resume flow run: {(result.details or {}).get('reason')}")


def delete_flow_run(invocation: Invocation) -> None:
    flow_run_id = inferred_flow_run(invocation)
    invocation.target("flow-run", flow_run_id)
    flow_runs.delete_flow_run(flow_run_id=flow_run_id)


def pause_work_pool(invocation: Invocation, paused: bool = True) -> None:
    pool_id = selected_or_inferred(invocation, "work_pool_id", "prefect.work-pool", "work pool")
    try:
        pool = work_pools.read_work_pool_by_id(work_pool_id=pool_id)
    except NotFound:
        raise ActionFailed(f"Work pool {pool_id} not found") from None
    invocation.target("work-pool", pool.id, **{"prefect.resource.name": pool.name})
    work_pools.update_work_pool(name=pool.name, is_paused=paused)


def resume_work_pool(invocation: Invocation) -> None:
    pause_work_pool(invocation, paused=False)


def pause_work_queue(invocation: Invocation, paused: bool = True) -> None:
    queue_id = selected_or_inferred(invocation, "work_queue_id", "prefect.work-queue", "work queue")
    invocation.target("work-queue", queue_id)
    work_queues.update_work_queue(work_queue_id=queue_id, is_paused=paused)


def resume_work_queue(invocation: Invocation) -> None:
    pause_work_queue(invocation, paused=False)


def pause_automation(invocation: Invocation, enabled: bool = False) -> None:
    automation_id = selected_or_inferred(invocation, "automation_id", "prefect.automation", "automation")
    invocation.target("automation", automation_id)
    automation_domain.set_automation_enabled(automation_id=automation_id, enabled=enabled)


def resume_automation(invocation: Invocation) -> None:
    pause_automation(invocation, enabled=True)


def render_template(template: str, invocation: Invocation) -> str:
    from jinja2 import TemplateError
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    context = {
        "automation": invocation.automation, "event": invocation.event, "labels": invocation.triggering_labels,
    }
    try:
        return ImmutableSandboxedEnvironment().from_string(template).render(context)
    except TemplateError as exc:
        invocation.details.update(template_error=str(exc), template_source=template)
        raise ActionFailed(f"Template rendering failed: {exc!r}") from None


def private_address(url: str) -> bool:
    host = urlsplit(url).hostname or ""
    try:
        addresses = {info[4][0] for info in socket.getaddrinfo(host, None)}
    except OSError:
        return False
    return any(not ipaddress.ip_address(address.split("%")[0]).is_global for address in addresses)


def call_webhook(invocation: Invocation) -> None:
    document_id = invocation.action["block_document_id"]
    try:
        document = blocks.read_block_document(block_document_id=document_id, include_secrets=True)
    except NotFound:
        raise ActionFailed(f"Block document {document_id} not found") from None
    block_type = document.document.block_type
    invocation.target("block-document", document_id, role="block", **{"prefect.resource.name": document.document.name})
    invocation.related.append({"prefect.resource.id": f"prefect.block-type.{block_type.slug}",
                               "prefect.resource.role": "block-type"})
    if block_type.slug != "webhook":
        raise ActionFailed("The referenced block was not a webhook block")
    data = document.data
    url, method = data.get("url"), (data.get("method") or "POST").upper()
    if not isinstance(url, str) or not url.startswith(("http://", "https://")):
        raise ActionFailed("The webhook block was invalid: its url must be an http(s) URL")
    if data.get("allow_private_urls") is False and private_address(url):
        raise ActionFailed("Webhook call failed: the URL resolves to a private address and the block forbids those")
    payload = render_template(invocation.action.get("payload") or "", invocation)
    try:
        response = requests.request(
            method, url, headers=data.get("headers") or {}, data=payload.encode(), timeout=WEBHOOK_TIMEOUT_SECONDS,
            verify=data.get("verify", True) is not False,
        )
    except requests.RequestException as exc:
        raise ActionFailed(f"Webhook call failed: {exc!r}") from None
    invocation.details.update(
        status_code=response.status_code,
        response_body=response.text[:RESPONSE_BODY_KEPT],
        response_headers={k: v for k, v in response.headers.items() if k.lower() not in REDACTED_HEADERS},
    )


def send_notification(invocation: Invocation) -> None:
    raise ActionFailed("send-notification is not supported by this server; use a call-webhook action or a "
                       "notification policy instead")


ACTIONS = {
    "do-nothing": do_nothing,
    "run-deployment": run_deployment,
    "pause-deployment": pause_deployment,
    "resume-deployment": resume_deployment,
    "cancel-flow-run": cancel_flow_run,
    "suspend-flow-run": suspend_flow_run,
    "resume-flow-run": resume_flow_run,
    "delete-flow-run": delete_flow_run,
    "change-flow-run-state": change_flow_run_state,
    "pause-work-pool": pause_work_pool,
    "resume-work-pool": resume_work_pool,
    "pause-work-queue": pause_work_queue,
    "resume-work-queue": resume_work_queue,
    "pause-automation": pause_automation,
    "resume-automation": resume_automation,
    "call-webhook": call_webhook,
    "send-notification": send_notification,
}


# Running and reporting -----------------------------------------------------------------------------


def action_event(invocation: Invocation, name: str, *, occurred: datetime, payload: dict, follows=None) -> dict:
    automation = invocation.automation
    resource = {
        "prefect.resource.id": f"prefect.automation.{automation['id']}",
        "prefect.resource.name": automation["name"],
        "prefect.trigger-type": automation["trigger_type"],
    }
    if automation.get("posture"):
        resource["prefect.posture"] = automation["posture"]
    related = list(invocation.related)
    if invocation.automation_triggered_event_id:
        related.append({"prefect.resource.id": f"prefect.event.{invocation.automation_triggered_event_id}",
                        "prefect.resource.role": "automation-triggered-event"})
    if invocation.event:
        related.append({"prefect.resource.id": f"prefect.event.{invocation.event['id']}",
                        "prefect.resource.role": "triggering-event"})
    return {"id": str(uuid.uuid4()), "occurred": occurred.isoformat(), "event": name, "resource": resource,
            "related": related, "payload": payload, "follows": follows}


def run_action(invocation: Invocation) -> bool:
    """Carry out one action and publish its triggered + executed/failed events; True if it succeeded."""
    reason = None
    perform = ACTIONS.get(invocation.action.get("type"))
    try:
        if perform is None:
            raise ActionFailed(f"Unknown action type {invocation.action.get('type')!r}")
        with transaction.atomic():  # a failed action leaves nothing half done
            perform(invocation)
    except ActionFailed as exc:
        reason = exc.reason
    except DomainError as exc:
        reason = refused(invocation, exc).reason
    except Exception as exc:  # one broken action must not stop the ones after it
        logger.exception("Automation %s action %d failed unexpectedly", invocation.automation_id, invocation.index)
        reason = f"Unexpected error: {exc!r}"
    details = {"action_index": invocation.index, "action_type": invocation.action.get("type"),
               "invocation": invocation.id}
    follows = None
    if invocation.event and abs(invocation.triggered - parse_instant(invocation.event["occurred"])) < FOLLOWS_WINDOW:
        follows = invocation.event["id"]
    triggered = action_event(invocation, "prefect.automation.action.triggered", occurred=invocation.triggered,
                             payload=details, follows=follows)
    publish_event(triggered)
    if reason is None:
        publish_event(action_event(invocation, "prefect.automation.action.executed", occurred=timezone.now(),
                                   payload={**details, **invocation.details}, follows=triggered["id"]))
    else:
        logger.warning("Automation %s action %d failed: %s", invocation.automation_id, invocation.index, reason)
        publish_event(action_event(invocation, "prefect.automation.action.failed", occurred=timezone.now(),
                                   payload={**details, "reason": reason, **invocation.details}, follows=triggered["id"]))
    return reason is None


def run_actions(job: dict) -> list[bool]:
    """Every planned action of one firing, in order."""
    return [run_action(Invocation(job, planned)) for planned in job["actions"]]

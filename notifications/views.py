"""The notifications page: policies created, edited, paused, resumed, deleted and tested in place
(HTMX fragments; every form also works as a plain post), and each policy's delivery log.

Views stay thin: notifications.policies and notifications.deliveries do the work and the checks;
notifications.forms turns inputs into their arguments and their field errors back into the form.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST
from django_htmx.http import reswap, retarget

from notifications import deliveries as delivery_domain
from notifications import policies as domain
from notifications.channels import CHANNELS
from notifications.messages import PLACEHOLDERS
from notifications.models import Delivery, DeliveryStatus
from orchestrator_site.htmx import render_page
from runs.domain.errors import InvalidInput, NotFound
from runs.views.common import dashboard_view

from . import forms

LOG_LIMIT_IN_LIST = 5  # deliveries shown under each policy on the list
LOG_LIMIT_ON_PAGE = 100  # on a policy's own page
PENDING_REFRESH_SECONDS = 2  # while a message waits to be sent, follow it closely
IDLE_REFRESH_SECONDS = 10  # otherwise look for new messages now and then
OPEN_STATUSES = {DeliveryStatus.PENDING, DeliveryStatus.SENDING}


@dataclass
class DeliveryLog:
    policy: object
    deliveries: list
    limit: int

    @property
    def pending(self) -> bool:
        return any(delivery.status in OPEN_STATUSES for delivery in self.deliveries)

    @property
    def refresh_seconds(self) -> int:
        return PENDING_REFRESH_SECONDS if self.pending else IDLE_REFRESH_SECONDS

    @property
    def last(self):
        return self.deliveries[0] if self.deliveries else None


@dataclass
class PolicyCard:
    """One policy as the list shows it; `form` set means it is open for editing."""

    policy: object
    log: DeliveryLog
    form: forms.PolicyForm | None = None
    result: tuple[str, str] | None = None  # (level, text) of the last action, shown in the card
    test_delivery: object | None = None  # a test message just queued: the card follows it
    state_classes: dict = field(default_factory=dict)

    @property
    def channel_label(self) -> str:
        channel = CHANNELS.get(self.policy.channel)
        return channel.label if channel else self.policy.channel


def state_class(state_name: str) -> str:
    return f"state-{STATE_NAME_TYPES.get(state_name.lower(), 'none')}"


# The colour of a state name is its state type's (Late is a Scheduled state, Retrying a Running one).
STATE_NAME_TYPES = {
    "scheduled": "scheduled", "late": "scheduled", "awaitingretry": "scheduled", "awaitingconcurrencyslot": "scheduled",
    "pending": "pending", "running": "running", "retrying": "running", "rerunning": "running",
    "paused": "paused", "suspended": "paused", "cancelling": "cancelling", "completed": "completed",
    "cached": "completed", "rolledback": "completed", "failed": "failed", "timedout": "failed",
    "crashed": "crashed", "cancelled": "cancelled",
}


def delivery_log(policy, limit: int) -> DeliveryLog:
    return DeliveryLog(policy, delivery_domain.read_policy_deliveries(policy_id=policy.id, limit=limit), limit)


def card_for(policy, *, limit=LOG_LIMIT_IN_LIST, log: DeliveryLog | None = None, **extra) -> PolicyCard:
    return PolicyCard(policy=policy, log=log or delivery_log(policy, limit),
                      state_classes={name: state_class(name) for name in policy.state_names}, **extra)


def editor_context() -> dict:
    """What every policy form needs besides its values: the choices and the placeholder help."""
    return {
        "channel_choices": forms.channel_choices(),
        "state_choices": [(name, state_class(name)) for name in domain.STATE_NAMES],
        "placeholders": PLACEHOLDERS,
    }


def new_form(channel: str | None = None) -> forms.PolicyForm:
    channel = channel if channel in CHANNELS else forms.default_channel()
    return forms.PolicyForm(prefix="new", channel=channel, state_names=["Failed", "Crashed"],
                            config_inputs=forms.config_inputs(channel))


def edit_form(policy) -> forms.PolicyForm:
    config = domain.shown_config(policy)  # never the stored secret itself
    return forms.PolicyForm(
        prefix=str(policy.id), policy=policy, name=policy.name, channel=policy.channel,
        state_names=list(policy.state_names), tags=", ".join(policy.tags or []),
        message_template=policy.message_template, is_active=policy.is_active,
        config_inputs=forms.config_inputs(policy.channel, config),
    )


def invalid_form(form: forms.PolicyForm, error: InvalidInput) -> forms.PolicyForm:
    return forms.attach_errors(form, getattr(error, "field_errors", None) or {}, str(error))


def list_context(**extra) -> dict:
    policies = domain.read_policies()
    latest = delivery_domain.read_latest_deliveries(
        policy_ids=[policy.id for policy in policies], per_policy=LOG_LIMIT_IN_LIST
    )
    cards = [
        card_for(policy, log=DeliveryLog(policy, latest[policy.id], LOG_LIMIT_IN_LIST)) for policy in policies
    ]
    return {"section": "notifications", "cards": cards, **editor_context(), **extra}


LIST_FRAGMENTS = {"policy-list": "notifications/partials/policy_list.html"}


def is_htmx(request) -> bool:
    return bool(getattr(request, "htmx", False))


# --- the list and the new-policy form ----------------------------------------------------------


@require_GET
@dashboard_view
def policy_list(request):
    return render_page(request, "notifications/policies.html", list_context(), fragments=LIST_FRAGMENTS)


@require_GET
@dashboard_view
def new_policy(request):
    """The empty form, opened in place (HTMX) or on the page (plain link)."""
    form = new_form(request.GET.get("channel"))
    if is_htmx(request):
        return render_page(request, "notifications/partials/policy_form.html", {"form": form, **editor_context()})
    return render_page(request, "notifications/policies.html", list_context(new_form=form))


@require_GET
@dashboard_view
def channel_fields(request):
    """A channel's inputs, swapped into the form when the channel select changes."""
    channel = request.GET.get("channel", "")
    if channel not in CHANNELS:
        raise InvalidInput(f"Unknown channel {channel!r}; choose one of: {', '.join(sorted(CHANNELS))}.")
    config = None
    policy_id = request.GET.get("policy")
    prefix = "new"
    if policy_id:
        try:
            policy_id = uuid.UUID(policy_id)
        except ValueError:
            raise InvalidInput(f"{policy_id!r} is not a policy id.") from None
        policy = domain.read_policy(policy_id=policy_id)
        prefix = str(policy.id)
        if policy.channel == channel:  # back to the stored channel: show its (masked) settings again
            config = domain.shown_config(policy)
    context = {"form": forms.PolicyForm(prefix=prefix, channel=channel,
                                        config_inputs=forms.config_inputs(channel, config))}
    return render_page(request, "notifications/partials/channel_fields.html", context)


@require_POST
@dashboard_view
def create_policy(request):
    form, values = forms.read_post(request.POST, prefix="new")
    try:
        policy = domain.create_policy(**values)
    except InvalidInput as error:
        form = invalid_form(form, error)
        if is_htmx(request):
            return render_page(request, "notifications/partials/policy_form.html",
                               {"form": form, **editor_context()}, status=400)
        return render_page(request, "notifications/policies.html", list_context(new_form=form), status=400)
    text = f"Created policy {policy}."
    if is_htmx(request):
        # The form asked to replace itself; on success the whole list changes instead.
        response = render_page(request, "notifications/partials/policy_list.html",
                               list_context(list_message=("success", text)))
        return reswap(retarget(response, "#policy-list"), "outerHTML")
    messages.success(request, text)
    return redirect("notifications:policies")


# --- one policy --------------------------------------------------------------------------------


def card_response(request, card: PolicyCard, *, status=200):
    """The card alone for HTMX, else the policy's own page around it."""
    context = {"section": "notifications", "card": card, **editor_context()}
    if is_htmx(request):
        return render_page(request, "notifications/partials/policy_card.html", context, status=status)
    card.log = delivery_log(card.policy, LOG_LIMIT_ON_PAGE)  # the policy's own page shows more of its log
    return render_page(request, "notifications/policy.html", context, status=status)


@require_GET
@dashboard_view
def policy_detail(request, policy_id):
    policy = domain.read_policy(policy_id=policy_id)
    editing = request.GET.get("edit") == "1"
    return card_response(request, card_for(policy, form=edit_form(policy) if editing else None))


@require_POST
@dashboard_view
def update_policy(request, policy_id):
    policy = domain.read_policy(policy_id=policy_id)
    stored = domain.shown_config(policy)
    form, values = forms.read_post(request.POST, prefix=str(policy.id), policy=policy, stored_config=stored)
    try:
        policy = domain.update_policy(policy_id=policy_id, **values)
    except InvalidInput as error:
        return card_response(request, card_for(policy, form=invalid_form(form, error)), status=400)
    return after_action(request, policy, "success", f"Saved policy {policy}.")


def after_action(request, policy, level: str, text: str):
    """The updated card with the result in it (HTMX), or back to the list with a flash message."""
    if is_htmx(request):
        return card_response(request, card_for(policy, result=(level, text)))
    getattr(messages, level)(request, text)
    return redirect("notifications:policies")


@require_POST
@dashboard_view
def pause_policy(request, policy_id):
    policy = domain.pause_policy(policy_id=policy_id)
    return after_action(request, policy, "success", f"Paused: {policy} sends nothing until it is resumed.")


@require_POST
@dashboard_view
def resume_policy(request, policy_id):
    policy = domain.resume_policy(policy_id=policy_id)
    return after_action(request, policy, "success", f"Resumed: {policy} sends messages again.")


@require_POST
@dashboard_view
def delete_policy(request, policy_id):
    policy = domain.read_policy(policy_id=policy_id)
    name = str(policy)
    domain.delete_policy(policy_id=policy_id)
    if is_htmx(request):
        return HttpResponse("")  # the card is swapped for nothing
    messages.success(request, f"Deleted policy {name}.")
    return redirect("notifications:policies")


@require_POST
@dashboard_view
def send_test_message(request, policy_id):
    """Queue a test message; the card then follows it until it is sent or has failed."""
    policy = domain.read_policy(policy_id=policy_id)
    delivery = delivery_domain.send_test_message(policy)
    if is_htmx(request):
        return card_response(request, card_for(policy, test_delivery=delivery))
    messages.success(request, "Test message queued; its result is shown in the policy's delivery log.")
    return redirect("notifications:policy", policy.id)


@require_GET
@dashboard_view
def test_message_result(request, policy_id, delivery_id):
    """How a test message fared, polled by the card while it is on its way."""
    delivery = read_test_delivery(policy_id, delivery_id)
    if not is_htmx(request):
        return redirect("notifications:policy", policy_id)
    return render_page(request, "notifications/partials/test_result.html", {"delivery": delivery,
                                                                            "policy_id": policy_id})


def read_test_delivery(policy_id, delivery_id):
    # Reading one row only; every write goes through notifications.deliveries.
    delivery = Delivery.objects.filter(pk=delivery_id, policy_id=policy_id, is_test=True).prefetch_related("attempts").first()
    if delivery is None:
        raise NotFound("Test message not found.")
    return delivery


@require_GET
@dashboard_view
def policy_deliveries(request, policy_id):
    """The delivery log: polled by the page (the fragment), or a page of its own."""
    policy = domain.read_policy(policy_id=policy_id)
    if not is_htmx(request):
        return redirect(reverse("notifications:policy", args=[policy.id]))
    try:
        limit = int(request.GET.get("limit") or LOG_LIMIT_IN_LIST)
    except ValueError:
        raise InvalidInput("limit must be a number.") from None
    if not 1 <= limit <= LOG_LIMIT_ON_PAGE:
        raise InvalidInput(f"limit must be between 1 and {LOG_LIMIT_ON_PAGE}.")
    # The card's "last delivery" rides along out of band, so it follows the log.
    context = {"section": "notifications", "log": delivery_log(policy, limit), "oob": True}
    return render_page(request, "notifications/partials/deliveries.html", context)

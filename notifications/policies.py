"""Notification policies: the only place that writes them. The API and the pages both call these.

Every rule about a policy lives here: known state names (stored in their canonical spelling), tags
as a list of strings, a channel that exists, a channel config its channel accepts (secrets
encrypted, see notifications.secrets) and a template with known placeholders only. Errors are
InvalidInput with `field_errors` ({"state_names": ..., "channel_config.url": ...}) so a form can
show each message next to its field.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.db.models import Q

from runs.domain import filters
from runs.domain.errors import InvalidInput, NotFound

from . import messages, secrets
from .channels import CHANNELS, ConfigError
from .models import NotificationPolicy

STATE_NAMES = (
    "Scheduled", "Late", "AwaitingRetry", "Pending", "Running", "Retrying", "Paused", "Suspended",
    "AwaitingConcurrencySlot", "Cancelling", "Cancelled", "Completed", "Cached", "RolledBack",
    "Failed", "Crashed", "TimedOut",
)
CANONICAL_STATE_NAMES = {name.lower(): name for name in STATE_NAMES}
MAX_NAME_LENGTH = 255
MAX_TAGS = 100
MAX_TEMPLATE_LENGTH = 5000
EDITABLE_FIELDS = ("name", "state_names", "tags", "channel", "channel_config", "message_template", "is_active")


class PolicyActiveFilter(filters.FilterModel):
    eq_: bool | None = None


class PolicyChannelFilter(filters.FilterModel):
    any_: list[str] | None = None


class PolicyFilter(filters.FilterModel):
    id: filters.IdFilter | None = None
    is_active: PolicyActiveFilter | None = None
    channel: PolicyChannelFilter | None = None

    def to_q(self, prefix: str = "") -> Q:
        clauses = [self.id.to_q(prefix) if self.id else filters.ALL]
        if self.is_active:
            clauses.append(filters.when(self.is_active.eq_ is not None, Q(is_active=self.is_active.eq_)))
        if self.channel:
            clauses.append(filters.when(self.channel.any_ is not None, Q(channel__in=self.channel.any_ or [])))
        return filters.combine(clauses)


# Validation ------------------------------------------------------------------------------------------


def validate_state_names(state_names: Any) -> list[str]:
    if not isinstance(state_names, list) or not state_names:
        raise InvalidInput("Choose at least one state: a list of state names such as Failed or Crashed.")
    canonical, unknown = [], []
    for name in state_names:
        known = CANONICAL_STATE_NAMES.get(name.strip().lower()) if isinstance(name, str) else None
        if known is None:
            unknown.append(repr(name))
        elif known not in canonical:
            canonical.append(known)
    if unknown:
        raise InvalidInput(f"Unknown state name(s): {', '.join(unknown)}. Known: {', '.join(STATE_NAMES)}.")
    return canonical


def validate_tags(tags: Any) -> list[str]:
    if tags is None:
        return []
    if not isinstance(tags, list) or not all(isinstance(tag, str) for tag in tags):
        raise InvalidInput("Tags must be a list of strings.")
    if len(tags) > MAX_TAGS:
        raise InvalidInput(f"At most {MAX_TAGS} tags.")
    return list(dict.fromkeys(tag.strip() for tag in tags if tag.strip()))


def validate_name(name: Any) -> str:
    if name is None:
        return ""
    if not isinstance(name, str):
        raise InvalidInput("The name must be text.")
    if len(name) > MAX_NAME_LENGTH:
        raise InvalidInput(f"The name must be at most {MAX_NAME_LENGTH} characters.")
    return name.strip()


def validate_message_template(template: Any) -> str:
    if template is None:
        return ""
    if isinstance(template, str) and len(template) > MAX_TEMPLATE_LENGTH:
        raise InvalidInput(f"The message template must be at most {MAX_TEMPLATE_LENGTH} characters.")
    return messages.validate_template(template).strip()


def channel_named(key: Any):
    channel = CHANNELS.get(key) if isinstance(key, str) else None
    if channel is None:
        raise InvalidInput(f"Unknown channel {key!r}. Available: {', '.join(sorted(CHANNELS)) or 'none'}.")
    return channel


def clean_channel_config(channel, config: Any) -> dict:
    """The channel's normalised config (secrets in the clear), or InvalidInput with one error per field."""
    if config is None:
        config = {}
    if not isinstance(config, dict):
        raise InvalidInput("The channel config must be an object.", field_errors={"channel_config": "Must be an object."})
    try:
        return channel.clean(dict(config))
    except ConfigError as exc:
        # A rejected value may itself be a secret: scrub the channel's messages before anyone sees them.
        known_secrets = secrets.secret_strings(channel, config)
        errors = {
            name if name == "channel_config" else f"channel_config.{name}": secrets.scrub(str(message), known_secrets, cut_urls=False)
            for name, message in exc.errors.items()
        }
        text = "; ".join(f"{name}: {message}" for name, message in errors.items())
        raise InvalidInput(f"Invalid {channel.label or channel.key} settings: {text}", field_errors=errors) from None


def _validated(values: dict, current_plain_config: dict | None = None, current_channel: str | None = None) -> dict:
    """Every field of `values` checked; errors of all fields are collected, not just the first."""
    checked: dict[str, Any] = {}
    errors: dict[str, str] = {}
    validators = {
        "name": validate_name,
        "state_names": validate_state_names,
        "tags": validate_tags,
        "message_template": validate_message_template,
    }
    for field, validate in validators.items():
        if field in values:
            try:
                checked[field] = validate(values[field])
            except InvalidInput as exc:
                errors[field] = str(exc)
    if "is_active" in values:
        if isinstance(values["is_active"], bool):
            checked["is_active"] = values["is_active"]
        else:
            errors["is_active"] = "Must be true or false."
    if "channel" in values or "channel_config" in values:
        channel = None
        try:
            channel = channel_named(values.get("channel", current_channel))
        except InvalidInput as exc:
            errors["channel"] = str(exc)
        if channel is not None:
            config = values.get("channel_config")
            if config is None and current_channel != channel.key:
                config = {}
            if isinstance(config, dict) and current_channel == channel.key:
                config = secrets.keep_unchanged_secrets(channel, config, current_plain_config)
            elif config is None:
                config = current_plain_config or {}
            try:
                checked["channel_config"] = secrets.encrypt_config(channel, clean_channel_config(channel, config))
                checked["channel"] = channel.key
            except InvalidInput as exc:
                if exc.field_errors:
                    errors.update(exc.field_errors)
                else:
                    errors["channel_config"] = str(exc)
    if errors:
        summary = "; ".join(f"{field}: {message}" for field, message in errors.items())
        raise InvalidInput(summary, field_errors=errors)
    return checked


# Operations ------------------------------------------------------------------------------------------


def create_policy(
    *,
    state_names: list[str],
    channel: str,
    channel_config: dict | None = None,
    name: str = "",
    tags: list[str] | None = None,
    message_template: str = "",
    is_active: bool = True,
) -> NotificationPolicy:
    checked = _validated(
        {
            "name": name,
            "state_names": state_names,
            "tags": tags,
            "channel": channel,
            "channel_config": channel_config or {},
            "message_template": message_template,
            "is_active": is_active,
        }
    )
    with transaction.atomic():
        return NotificationPolicy.objects.create(**checked)


def read_policy(*, policy_id) -> NotificationPolicy:
    policy = NotificationPolicy.objects.filter(pk=policy_id).first()
    if policy is None:
        raise NotFound("Notification policy not found.")
    return policy


def read_policies(*, policies: PolicyFilter | None = None, limit: int | None = None, offset: int = 0) -> list[NotificationPolicy]:
    queryset = NotificationPolicy.objects.filter(policies.to_q() if policies else filters.ALL).order_by("-created", "-id")
    offset = offset or 0
    return list(queryset[offset: offset + limit] if limit is not None else queryset[offset:])


def count_policies(*, policies: PolicyFilter | None = None) -> int:
    return NotificationPolicy.objects.filter(policies.to_q() if policies else filters.ALL).count()


def update_policy(*, policy_id, **changes) -> NotificationPolicy:
    """Change any subset of the editable fields. A secret sent back masked, or left out, keeps its value."""
    unknown = set(changes) - set(EDITABLE_FIELDS)
    if unknown:
        raise InvalidInput(f"Cannot change {', '.join(sorted(unknown))} of a notification policy.")
    with transaction.atomic():
        policy = NotificationPolicy.objects.select_for_update().filter(pk=policy_id).first()
        if policy is None:
            raise NotFound("Notification policy not found.")
        current_plain = None
        if "channel" in changes or "channel_config" in changes:
            current_channel = CHANNELS.get(policy.channel)
            current_plain = secrets.decrypt_config(current_channel, policy.channel_config) if current_channel else {}
        checked = _validated(changes, current_plain, policy.channel)
        for field, value in checked.items():
            setattr(policy, field, value)
        if checked:
            policy.save(update_fields=[*checked, "updated"])
        return policy


def delete_policy(*, policy_id) -> None:
    with transaction.atomic():
        deleted, _ = NotificationPolicy.objects.filter(pk=policy_id).delete()
    if not deleted:
        raise NotFound("Notification policy not found.")


def pause_policy(*, policy_id) -> NotificationPolicy:
    return _set_active(policy_id, False)


def resume_policy(*, policy_id) -> NotificationPolicy:
    return _set_active(policy_id, True)


def _set_active(policy_id, is_active: bool) -> NotificationPolicy:
    with transaction.atomic():
        policy = read_policy(policy_id=policy_id)
        if policy.is_active != is_active:
            policy.is_active = is_active
            policy.save(update_fields=["is_active", "updated"])
    return policy


def shown_config(policy: NotificationPolicy) -> dict:
    """The policy's channel config as anything may show it: secrets masked."""
    channel = CHANNELS.get(policy.channel)
    if channel is None:
        return {}
    return secrets.masked_config(channel, policy.channel_config)

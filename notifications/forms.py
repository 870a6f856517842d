"""The policy editor's form: what the page shows (built from a channel's `fields`) and what a post means.

No rules live here: the notifications domain (notifications.policies) validates and saves. This
module only turns inputs into the values the domain takes, and the domain's per-field errors back
into messages next to the inputs. Secret inputs carry the masked value the domain gave us; posting
it back unchanged (or leaving it empty on an edit) means "keep the stored secret".
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from notifications.channels import CHANNELS

CONFIG_PREFIX = "config."  # config inputs are named "config.<field>", apart from the policy's own fields
POLICY_FIELDS = ("name", "channel", "state_names", "tags", "message_template", "is_active")


@dataclass
class ConfigInput:
    """One input of a channel's field set."""

    name: str
    label: str
    widget: str  # text, url, password, select, textarea, json, list
    required: bool
    secret: bool
    value: str = ""
    choices: tuple[str, ...] = ()
    help: str = ""
    error: str = ""
    stored: bool = False  # a secret is stored: leaving the input as it is keeps it

    @property
    def input_name(self) -> str:
        return CONFIG_PREFIX + self.name


@dataclass
class PolicyForm:
    prefix: str  # "new" or the policy id: keeps input ids unique when several forms are open
    policy: object | None = None  # the policy being edited, None for a new one
    name: str = ""
    channel: str = ""
    state_names: list[str] = field(default_factory=list)
    tags: str = ""
    message_template: str = ""
    is_active: bool = True
    config_inputs: list[ConfigInput] = field(default_factory=list)
    errors: dict[str, str] = field(default_factory=dict)  # policy field -> message
    error: str = ""  # what belongs to no single input

    @property
    def channel_label(self) -> str:
        channel = CHANNELS.get(self.channel)
        return channel.label if channel else self.channel


def channel_choices() -> list[tuple[str, str]]:
    return sorted(((key, channel.label) for key, channel in CHANNELS.items()), key=lambda item: item[1].lower())


def default_channel() -> str:
    choices = channel_choices()
    return "slack" if "slack" in CHANNELS else (choices[0][0] if choices else "")


def _display(value, kind: str) -> str:
    if value is None:
        return ""
    if kind == "list":
        return ", ".join(str(item) for item in value) if isinstance(value, (list, tuple)) else str(value)
    if kind == "json":
        return value if isinstance(value, str) else json.dumps(value, indent=2)
    return str(value)


def _widget(spec) -> str:
    if spec.secret:
        return "password"  # a token never sits in the page in clear; the value is the domain's mask
    return {"choice": "select"}.get(spec.kind, spec.kind if spec.kind in ("url", "textarea", "json", "list") else "text")


def config_inputs(channel_key: str, config: dict | None = None, *, raw: dict | None = None,
                  errors: dict | None = None) -> list[ConfigInput]:
    """The inputs of a channel's field set, filled from a (masked) stored config, or from what was posted."""
    channel = CHANNELS.get(channel_key)
    if channel is None:
        return []
    config = config or {}
    errors = errors or {}
    inputs = []
    for spec in channel.fields:
        stored = spec.secret and bool(config.get(spec.name))
        retype = False
        if spec.secret:
            # Only the domain's mask ever goes back to the browser, never what was typed.
            value = _display(config.get(spec.name), spec.kind) if stored else ""
            retype = raw is not None and raw.get(spec.name, "") not in ("", value)
        elif raw is not None:
            value = raw.get(spec.name, "")
        elif spec.name in config:
            value = _display(config[spec.name], spec.kind)
        else:
            value = _display(spec.default, spec.kind)
        help_text = spec.help
        if retype:
            help_text = (help_text + " " if help_text else "") + "Type the new value again: secrets are not sent back to the page."
        if spec.kind == "list" and not help_text:
            help_text = "Comma-separated."
        inputs.append(ConfigInput(
            name=spec.name, label=spec.label, widget=_widget(spec), required=spec.required, secret=spec.secret,
            value=value, choices=tuple(spec.choices), help=help_text, error=errors.get(spec.name, ""), stored=stored,
        ))
    return inputs


def parse_tags(text: str) -> list[str]:
    return [tag.strip() for tag in text.split(",") if tag.strip()]


def read_post(post, *, prefix: str, policy=None, stored_config: dict | None = None) -> tuple[PolicyForm, dict]:
    """The form as posted (to show again on errors) and the values for the domain.

    Channel inputs are passed on as typed (the channel reads lists and JSON text and says what is
    wrong); an empty secret input on an edit is left out, which the domain reads as "keep"."""
    channel_key = post.get("channel", "").strip()
    raw_config = {key[len(CONFIG_PREFIX):]: value for key, value in post.items() if key.startswith(CONFIG_PREFIX)}
    form = PolicyForm(
        prefix=prefix, policy=policy, name=post.get("name", ""), channel=channel_key,
        state_names=[name for name in post.getlist("state_names") if name],
        tags=post.get("tags", ""), message_template=post.get("message_template", ""),
        is_active=("is_active" in post) if policy is None else bool(getattr(policy, "is_active", True)),
    )
    config: dict = {}
    channel = CHANNELS.get(channel_key)
    for spec in channel.fields if channel else ():
        text = raw_config.get(spec.name, "")
        if spec.secret and text == "" and policy is not None:
            continue
        if text.strip() == "" and not spec.required:
            continue
        config[spec.name] = text  # as typed: the channel parses lists and JSON and says what is wrong
    same_channel = policy is not None and getattr(policy, "channel", None) == channel_key
    form.config_inputs = config_inputs(channel_key, stored_config if same_channel else None, raw=raw_config)
    values = {
        "name": form.name.strip(), "channel": channel_key, "state_names": form.state_names,
        "tags": parse_tags(form.tags), "message_template": form.message_template, "channel_config": config,
    }
    if policy is None:
        values["is_active"] = form.is_active
    return form, values


def attach_errors(form: PolicyForm, field_errors: dict[str, str], fallback: str) -> PolicyForm:
    """Put each of the domain's field errors next to its input; the rest above the form."""
    config_names = {spec_input.name: spec_input for spec_input in form.config_inputs}
    leftovers = []
    for key, message in (field_errors or {}).items():
        key = str(key)
        for outer in ("channel_config.", "config."):
            if key.startswith(outer):
                key = key[len(outer):]
        if key in POLICY_FIELDS:
            form.errors[key] = str(message)
        elif key in config_names:
            config_names[key].error = str(message)
        else:
            leftovers.append(f"{key}: {message}" if key not in ("__all__", "") else str(message))
    if leftovers:
        form.error = " ".join(leftovers)
    elif not field_errors:
        form.error = fallback
    return form

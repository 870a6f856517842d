"""Which events an event trigger is interested in, and which bucket an event counts in.

Pure functions over the stored trigger specs (runs.domain.automations.EventTrigger) and events
as they go on the wire (dicts with `event`, `resource`, `related`...). Label values and event
names are glob patterns, negated by a leading `!`, matched with the same rule as event filters.
"""

from __future__ import annotations

from runs.domain.automations import EventTrigger
from runs.events.filters import label_matches, labels_match, normalized_spec


def name_matches_any(patterns, name: str) -> bool:
    return any(label_matches(pattern, name) for pattern in patterns)


def expects(trigger: EventTrigger, name: str) -> bool:
    """The event counts toward the trigger's threshold (no `expect` means every event does)."""
    return not trigger.expect or name_matches_any(trigger.expect, name)


def starts_after(trigger: EventTrigger, name: str) -> bool:
    """The event opens a window for a trigger that waits for an `after` event first."""
    return bool(trigger.after) and name_matches_any(trigger.after, name)


def could_interest(trigger: EventTrigger, name: str) -> bool:
    """The cheap first check, on the event name alone."""
    return not trigger.expect or name_matches_any([*trigger.expect, *trigger.after], name)


def spec_includes(spec: dict, resources: list[dict]) -> bool:
    """An empty specification matches anything; otherwise one of the resources must match it all."""
    if not spec:
        return True
    normalized = normalized_spec(spec)
    return any(labels_match(normalized, resource) for resource in resources)


def covers(trigger: EventTrigger, event: dict) -> bool:
    """The trigger cares about this event: its name, its resource (`match`) and its related
    resources (each of `match_related`)."""
    if not could_interest(trigger, event["event"]):
        return False
    if not spec_includes(trigger.match, [event["resource"]]):
        return False
    related_specs = trigger.match_related if isinstance(trigger.match_related, list) else [trigger.match_related]
    return all(spec_includes(spec, event.get("related") or []) for spec in related_specs)


def find_resource_label(event: dict, label: str) -> str | None:
    """A label of the event's resource, or `related:<role>:<label>` of its first related resource
    in that role."""
    directive, _, related_label = label.rpartition(":")
    directive, _, role = directive.partition(":")
    if directive == "related":
        for related in event.get("related") or []:
            if related.get("prefect.resource.role") == role:
                return related.get(related_label)
    return event["resource"].get(label)


def bucketing_key(trigger: EventTrigger, event: dict) -> list[str]:
    """The for_each label values, in label order; a missing label counts as ""."""
    return [find_resource_label(event, label) or "" for label in sorted(trigger.for_each)]


def meets_threshold(trigger: EventTrigger, count: int) -> bool:
    if trigger.posture == "Reactive":
        return count >= trigger.threshold
    return count < trigger.threshold

"""Which events an EventFilter selects: the one place these rules live.

Each criterion class answers the same question twice, side by side so they cannot drift apart:
`to_q()` for SQL (POST /events/filter and the out-stream backfill) and `matches(event)` for the
live stream, where `event` is an `Event` row (or anything with the same attributes). Label values
are glob patterns (`*`, `?`), negated by a leading `!`; both paths compile a pattern through
`glob_regex`, so SQL and memory agree on every pattern. JSON null means "not provided".
"""

from __future__ import annotations

import json
import re
from datetime import datetime, time, timedelta, timezone
from functools import lru_cache
from typing import Literal
from uuid import UUID

from django.db.models import F, Q, TextField, Value
from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import Cast, Concat, Lower
from django.db.models.lookups import Contains, Exact, IsNull, Regex
from pydantic import BaseModel, ConfigDict, Field, field_validator

ALL = Q()
NOTHING = Q(pk__in=[])

# The primary resource is stored in EventResource with this role; related ones carry theirs.
PRIMARY_ROLE = ""
RESOURCE_ID = "prefect.resource.id"
RESOURCE_ROLE = "prefect.resource.role"


def utc(value: datetime) -> datetime:
    return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value


# Label patterns -------------------------------------------------------------------------------------


def regex_body(text: str, wildcards: bool) -> str:
    """Literal characters escaped the way Python's `re` and PostgreSQL's `~` both read them."""
    parts = []
    for char in text:
        if wildcards and char == "*":
            parts.append(".*")
        elif wildcards and char == "?":
            parts.append(".")
        elif char.isalnum() or char == "_":
            parts.append(char)
        else:
            parts.append("\\" + char)
    return "".join(parts)


@lru_cache(maxsize=4096)
def glob_regex(pattern: str) -> str:
    return "(?s)\\A" + regex_body(pattern, wildcards=True) + "\\Z"


@lru_cache(maxsize=4096)
def prefix_regex(prefix: str) -> str:
    return "(?s)\\A" + regex_body(prefix, wildcards=False)


def split_negation(pattern: str) -> tuple[bool, str]:
    return pattern.startswith("!"), pattern.removeprefix("!")


def label_matches(pattern: str, value: str | None) -> bool:
    """A missing label matches no pattern, not even a negated one."""
    if value is None:
        return False
    negated, glob = split_negation(pattern)
    found = re.search(glob_regex(glob), value) is not None
    return found != negated


def label_q(pattern: str, expression) -> Q:
    negated, glob = split_negation(pattern)
    if "*" in glob or "?" in glob:
        match = Q(Regex(expression, glob_regex(glob)))
    else:
        match = Q(Exact(expression, glob))
    # Spelled out so a missing label stays excluded under negation, as in label_matches.
    return Q(IsNull(expression, False)) & ~match if negated else match


def prefix_q(prefix: str, field: str) -> Q:
    # LIKE narrows cheaply; the regex makes it case-sensitive on SQLite too.
    return Q(**{f"{field}__startswith": prefix}) & Q(Regex(F(field), prefix_regex(prefix)))


def labels_match(spec: dict[str, list[str]], resource: dict) -> bool:
    """Every label in the spec has a value matching one of its patterns (an empty list matches nothing)."""
    return all(any(label_matches(p, resource.get(label)) for p in patterns) for label, patterns in spec.items())


def labels_q(spec: dict[str, list[str]]) -> Q:
    """The same rule over EventResource rows (resource id and role are columns, the rest JSON)."""
    clauses = []
    for label, patterns in spec.items():
        if label == RESOURCE_ID:
            expression = F("resource_id")
        elif label == RESOURCE_ROLE:
            expression = F("role")
            clauses.append(~Q(role=PRIMARY_ROLE))  # the primary resource has no role label at all
        else:
            expression = KeyTextTransform(label, "labels")
        options = [label_q(pattern, expression) for pattern in patterns]
        clauses.append(any_of(options) if options else NOTHING)
    return all_of(clauses)


def any_of(clauses: list[Q]) -> Q:
    result = NOTHING
    for index, clause in enumerate(clauses):
        result = clause if index == 0 else result | clause
    return result


def all_of(clauses: list[Q]) -> Q:
    result = ALL
    for clause in clauses:
        result &= clause
    return result


def role_of(resource: dict) -> str:
    return resource.get(RESOURCE_ROLE, PRIMARY_ROLE)


# Criteria --------------------------------------------------------------------------------------------


class Criterion(BaseModel):
    model_config = ConfigDict(extra="forbid")


LabelSpec = dict[str, str | list[str]]


def normalized_spec(spec: LabelSpec | None) -> dict[str, list[str]] | None:
    if spec is None:
        return None
    return {label: [value] if isinstance(value, str) else list(value) for label, value in spec.items()}


def default_since() -> datetime:
    today = datetime.combine(datetime.now(timezone.utc).date(), time(), tzinfo=timezone.utc)
    return today - timedelta(days=180)


class EventOccurredFilter(Criterion):
    since: datetime = Field(default_factory=default_since)
    until: datetime = Field(default_factory=lambda: datetime.now(timezone.utc))

    @field_validator("since", "until", mode="after")
    @classmethod
    def assume_utc(cls, value: datetime) -> datetime:
        return utc(value)

    def clamp(self, max_age: timedelta) -> None:
        self.since = max(self.since, datetime.now(timezone.utc) - max_age)

    def to_q(self) -> Q:
        return Q(occurred__gte=self.since, occurred__lte=self.until)

    def matches(self, event) -> bool:
        return self.since <= event.occurred <= self.until


class EventNameFilter(Criterion):
    prefix: list[str] | None = None
    exclude_prefix: list[str] | None = None
    name: list[str] | None = None
    exclude_name: list[str] | None = None

    def to_q(self) -> Q:
        clauses = []
        if self.prefix:
            clauses.append(any_of([prefix_q(prefix, "event") for prefix in self.prefix]))
        for prefix in self.exclude_prefix or []:
            clauses.append(~prefix_q(prefix, "event"))
        if self.name:
            clauses.append(Q(event__in=self.name))
        if self.exclude_name:
            clauses.append(~Q(event__in=self.exclude_name))
        return all_of(clauses)

    def matches(self, event) -> bool:
        name = event.event
        if self.prefix and not any(name.startswith(prefix) for prefix in self.prefix):
            return False
        if self.exclude_prefix and any(name.startswith(prefix) for prefix in self.exclude_prefix):
            return False
        if self.name and name not in self.name:
            return False
        return not (self.exclude_name and name in self.exclude_name)


class EventResourceFilter(Criterion):
    id: list[str] | None = None
    id_prefix: list[str] | None = None
    labels: LabelSpec | None = None
    distinct: bool = False  # accepted for compatibility; every matching event is returned

    def to_q(self, scope: Q) -> Q:
        clauses = []
        if self.id:
            clauses.append(Q(resource_id__in=self.id))
        if self.id_prefix:
            clauses.append(any_of([prefix_q(prefix, "resource_id") for prefix in self.id_prefix]))
        spec = normalized_spec(self.labels)
        if spec:
            clauses.append(resources_q(scope & Q(role=PRIMARY_ROLE) & labels_q(spec)))
        return all_of(clauses)

    def matches(self, event) -> bool:
        resource_id = event.resource.get(RESOURCE_ID, "")
        if self.id and resource_id not in self.id:
            return False
        if self.id_prefix and not any(resource_id.startswith(prefix) for prefix in self.id_prefix):
            return False
        spec = normalized_spec(self.labels)
        return not spec or labels_match(spec, event.resource)


class ResourceRowCriterion(Criterion):
    """A criterion that some single resource of the event must meet (the same row for every part)."""

    id: list[str] | None = None
    labels: LabelSpec | None = None

    def row_clauses(self) -> list[Q]:
        clauses = []
        if self.id:
            clauses.append(Q(resource_id__in=self.id))
        spec = normalized_spec(self.labels)
        if spec:
            clauses.append(labels_q(spec))
        return clauses

    def row_matches(self, resource: dict) -> bool:
        if self.id and resource.get(RESOURCE_ID) not in self.id:
            return False
        spec = normalized_spec(self.labels)
        return not spec or labels_match(spec, resource)


class EventRelatedFilter(ResourceRowCriterion):
    role: list[str] | None = None
    resources_in_roles: list[tuple[str, str]] | None = None

    def row_clauses(self) -> list[Q]:
        clauses = super().row_clauses()
        if self.role:
            clauses.append(Q(role__in=self.role))
        if self.resources_in_roles:
            clauses.append(any_of([Q(resource_id=rid, role=role) for rid, role in self.resources_in_roles]))
        return clauses

    def row_matches(self, resource: dict) -> bool:
        role = role_of(resource)
        if self.role and role not in self.role:
            return False
        pairs = {tuple(pair) for pair in self.resources_in_roles or []}
        if pairs and (resource.get(RESOURCE_ID), role) not in pairs:
            return False
        return super().row_matches(resource)

    def to_q(self, scope: Q) -> Q:
        clauses = self.row_clauses()
        if not clauses:
            return ALL
        # Only related resources count here, never the event's own resource.
        return resources_q(scope & ~Q(role=PRIMARY_ROLE) & all_of(clauses))

    def matches(self, event) -> bool:
        if not self.row_clauses():
            return True
        return any(self.row_matches(resource) for resource in event.related)


class EventAnyResourceFilter(ResourceRowCriterion):
    id_prefix: list[str] | None = None

    def row_clauses(self) -> list[Q]:
        clauses = super().row_clauses()
        if self.id_prefix:
            clauses.append(any_of([prefix_q(prefix, "resource_id") for prefix in self.id_prefix]))
        return clauses

    def row_matches(self, resource: dict) -> bool:
        if self.id_prefix and not any(resource.get(RESOURCE_ID, "").startswith(p) for p in self.id_prefix):
            return False
        return super().row_matches(resource)

    def to_q(self, scope: Q) -> Q:
        clauses = self.row_clauses()
        return resources_q(scope & all_of(clauses)) if clauses else ALL

    def matches(self, event) -> bool:
        if not self.row_clauses():
            return True
        return any(self.row_matches(resource) for resource in [event.resource, *event.related])


class EventIDFilter(Criterion):
    id: list[UUID] | None = None

    def to_q(self) -> Q:
        return Q(id__in=self.id) if self.id else ALL

    def matches(self, event) -> bool:
        return not self.id or as_uuid(event.id) in self.id


TEXT_TERM = re.compile(r'([+-]?)(?:"([^"]*)"|(\S+))')


class EventTextFilter(Criterion):
    """Words match anywhere in the name, resources or payload, case-insensitively: plain words
    any-of, `+word` all-of, `-word` none-of; quotes keep a phrase together."""

    query: str = Field(max_length=200)

    def terms(self) -> tuple[list[str], list[str], list[str]]:
        include, required, exclude = [], [], []
        for sign, phrase, word in TEXT_TERM.findall(self.query):
            term = (phrase or word).lower()
            if term:
                {"": include, "+": required, "-": exclude}[sign].append(term)
        return include, required, exclude

    def to_q(self) -> Q:
        include, required, exclude = self.terms()
        text = Lower(
            Concat(
                F("event"), Value(" "), Cast("resource", TextField()), Value(" "),
                Cast("related", TextField()), Value(" "), Cast("payload", TextField()),
                output_field=TextField(),
            )
        )
        contains = lambda term: Q(Contains(text, term))  # noqa: E731
        clauses = [any_of([contains(t) for t in include])] if include else []
        clauses += [contains(t) for t in required] + [~contains(t) for t in exclude]
        return all_of(clauses)

    def matches(self, event) -> bool:
        include, required, exclude = self.terms()
        text = " ".join(
            [event.event, json.dumps(event.resource), json.dumps(event.related), json.dumps(event.payload)]
        ).lower()
        if include and not any(term in text for term in include):
            return False
        return all(term in text for term in required) and not any(term in text for term in exclude)


class EventFilter(Criterion):
    occurred: EventOccurredFilter = Field(default_factory=EventOccurredFilter)
    event: EventNameFilter | None = None
    resource: EventResourceFilter | None = None
    related: EventRelatedFilter | list[EventRelatedFilter] | None = None
    any_resource: EventAnyResourceFilter | list[EventAnyResourceFilter] | None = None
    id: EventIDFilter = Field(default_factory=EventIDFilter)
    text: EventTextFilter | None = None
    order: Literal["ASC", "DESC"] = "DESC"

    @field_validator("occurred", "id", mode="before")
    @classmethod
    def null_means_default(cls, value):
        return {} if value is None else value

    def criteria(self) -> list:
        found = [self.occurred, self.event, self.resource, self.id, self.text]
        for many in (self.related, self.any_resource):
            found.extend(many if isinstance(many, list) else [many])
        return [criterion for criterion in found if criterion is not None]

    def to_q(self) -> Q:
        # Resource subqueries only look at resource rows inside the time window, which keeps them small.
        scope = Q(occurred__gte=self.occurred.since, occurred__lte=self.occurred.until)
        clauses = []
        for criterion in self.criteria():
            takes_scope = isinstance(criterion, (EventResourceFilter, EventRelatedFilter, EventAnyResourceFilter))
            clauses.append(criterion.to_q(scope) if takes_scope else criterion.to_q())
        return all_of(clauses)

    def matches(self, event) -> bool:
        return all(criterion.matches(event) for criterion in self.criteria())

    def ordering(self) -> list[str]:
        return ["occurred", "id"] if self.order == "ASC" else ["-occurred", "-id"]


def resources_q(resource_rows: Q) -> Q:
    from runs.models import EventResource

    return Q(id__in=EventResource.objects.filter(resource_rows).values("event_id"))


def as_uuid(value) -> UUID:
    return value if isinstance(value, UUID) else UUID(str(value))

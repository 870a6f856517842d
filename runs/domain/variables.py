"""Variables: named JSON values, read and written by name from flows, the CLI and the dashboard."""

from __future__ import annotations

import re
from typing import Any

import orjson
from django.db import IntegrityError, transaction
from django.db.models import Q

from runs.models import Variable

from . import filters
from .errors import AlreadyExists, InvalidInput, NotFound

NAME_PATTERN = re.compile(r"^[a-z0-9_-]+$")
MAX_NAME_LENGTH = 255
MAX_VALUE_LENGTH = 5000  # characters of the value's JSON text, as the client also enforces
MAX_TAGS = 100

VARIABLE_SORTS = {
    "CREATED_DESC": ["-created", "-id"],
    "UPDATED_DESC": ["-updated", "-id"],
    "NAME_ASC": ["name"],
    "NAME_DESC": ["-name"],
}


class VariableNameFilter(filters.FilterModel):
    any_: list[str] | None = None
    like_: str | None = None


class VariableTagsFilter(filters.OperatorFilter):
    all_: list[str] | None = None
    is_null_: bool | None = None


class VariableFilter(filters.OperatorFilter):
    id: filters.IdFilter | None = None
    name: VariableNameFilter | None = None
    tags: VariableTagsFilter | None = None

    def to_q(self, prefix: str = "") -> Q:
        clauses = [self.id.to_q(prefix) if self.id else filters.ALL]
        if self.name:
            clauses.append(filters.when(self.name.any_ is not None, Q(name__in=self.name.any_ or [])))
            clauses.append(filters.when(self.name.like_, Q(name__icontains=self.name.like_)))
        if self.tags:
            clauses.append(filters.TagsFilter(all_=self.tags.all_, is_null_=self.tags.is_null_).to_q(prefix))
        return filters.combine(clauses, self.operator)


def validate_name(name: Any) -> str:
    if not isinstance(name, str) or not name:
        raise InvalidInput("Variable name must be a non-empty string.")
    if len(name) > MAX_NAME_LENGTH:
        raise InvalidInput(f"Variable name must be at most {MAX_NAME_LENGTH} characters.")
    if not NAME_PATTERN.match(name):
        raise InvalidInput("Variable name must only contain lowercase letters, numbers, and dashes or underscores.")
    return name


def validate_value(value: Any) -> Any:
    try:
        text = orjson.dumps(value)
    except (TypeError, orjson.JSONEncodeError):
        raise InvalidInput("Variable value must be serializable to JSON.") from None
    if value is not None and len(text) > MAX_VALUE_LENGTH:
        raise InvalidInput(f"Variable value must be less than {MAX_VALUE_LENGTH} characters.")
    return value


def validate_tags(tags: Any) -> list[str]:
    if tags is None:
        return []
    if not isinstance(tags, list) or not all(isinstance(tag, str) for tag in tags):
        raise InvalidInput("Variable tags must be a list of strings.")
    if len(tags) > MAX_TAGS:
        raise InvalidInput(f"A variable may have at most {MAX_TAGS} tags.")
    return tags


def create_variable(*, name: str, value: Any = None, tags: list[str] | None = None) -> Variable:
    variable = Variable(name=validate_name(name), value=validate_value(value), tags=validate_tags(tags))
    try:
        with transaction.atomic():
            variable.save(force_insert=True)
    except IntegrityError:
        raise AlreadyExists(f"A variable with the name {name!r} already exists.") from None
    return variable


def read_variable(*, variable_id) -> Variable:
    try:
        return Variable.objects.get(id=variable_id)
    except Variable.DoesNotExist:
        raise NotFound("Variable not found.") from None


def read_variable_by_name(*, name: str) -> Variable:
    try:
        return Variable.objects.get(name=name)
    except Variable.DoesNotExist:
        raise NotFound("Variable not found.") from None


UNSET = object()


def update_variable(*, variable: Variable, name=UNSET, value=UNSET, tags=UNSET) -> Variable:
    """Change only the given fields; a null name or tags means "leave as is", a null value is a value."""
    changed = []
    if name is not UNSET and name is not None:
        variable.name = validate_name(name)
        changed.append("name")
    if value is not UNSET:
        variable.value = validate_value(value)
        changed.append("value")
    if tags is not UNSET and tags is not None:
        variable.tags = validate_tags(tags)
        changed.append("tags")
    if changed:
        try:
            with transaction.atomic():
                variable.save(update_fields=[*changed, "updated"])
        except IntegrityError:
            raise AlreadyExists(f"A variable with the name {variable.name!r} already exists.") from None
    return variable


def update_variable_by_id(*, variable_id, **changes) -> Variable:
    return update_variable(variable=read_variable(variable_id=variable_id), **changes)


def update_variable_by_name(*, current_name: str, **changes) -> Variable:
    return update_variable(variable=read_variable_by_name(name=current_name), **changes)


def delete_variable(*, variable_id) -> None:
    deleted, _ = Variable.objects.filter(id=variable_id).delete()
    if not deleted:
        raise NotFound("Variable not found.")


def delete_variable_by_name(*, name: str) -> None:
    deleted, _ = Variable.objects.filter(name=name).delete()
    if not deleted:
        raise NotFound("Variable not found.")


def read_variables(*, variables: VariableFilter | None = None, sort: str = "NAME_ASC", window: slice | None = None):
    queryset = Variable.objects.filter(variables.to_q() if variables else filters.ALL).order_by(*VARIABLE_SORTS[sort])
    return list(queryset[window] if window else queryset)


def count_variables(*, variables: VariableFilter | None = None) -> int:
    return Variable.objects.filter(variables.to_q() if variables else filters.ALL).count()

"""HTML forms generated from a JSON schema, and typed values read back from what they submit.

Used by the deployment page's run form (a flow's parameter schema) and the run page's resume
form (the input schema a paused run waits for). The schemas are what pydantic produces for flow
signatures and RunInput models: one object with `properties`, `required`, titles, descriptions,
defaults, enums, `$ref`s into `$defs` / `definitions`, and `anyOf [X, null]` for optional fields.
Anything a single input cannot express (arrays, objects, unions) is a JSON textarea.
"""

from __future__ import annotations

import json
import math

import jsonschema
from referencing.exceptions import Unresolvable

NO_POSITION = 1_000_000


def schema_fields(schema: dict | None, *, values: dict | None = None, submitted=None, errors=None) -> list[dict]:
    """One field per property, in the schema's order (its `position`s when given), filled with
    what was submitted, else the given value, else the schema default."""
    values, errors = values or {}, errors or {}
    fields = []
    for name, spec, required in _properties(schema):
        widget = _widget(spec)
        if submitted is not None:
            value = submitted.get(name, "") if widget != "checkbox" else name in submitted
        elif name in values:
            value = values[name]
        else:
            value = spec.get("default", "")
        if value is None:
            value = ""
        if widget == "json" and not isinstance(value, str):
            value = json.dumps(value, indent=2)
        fields.append({
            "name": name, "title": spec.get("title") or name, "description": spec.get("description"),
            "widget": widget, "value": value, "required": required and widget != "checkbox",
            "options": [{"value": _option_text(option), "label": _option_text(option)} for option in spec.get("enum") or []],
            "selected": _option_text(value) if widget == "select" and value != "" else None,
            "checked": value is True or value in ("on", "true"),
            "step": "1" if spec.get("type") == "integer" else "any",
            "error": errors.get(name),
        })
    return fields


def parse_form(schema: dict | None, form) -> tuple[dict, dict]:
    """(values, errors): typed values of the submitted fields, and a message per field that could
    not be read. An empty field is left out (the default applies) unless it is a string or may be null."""
    values, errors = {}, {}
    for name, spec, _ in _properties(schema):
        widget = _widget(spec)
        if widget == "checkbox":
            values[name] = name in form
            continue
        raw = form.get(name, "")
        if raw == "" and spec.get("nullable"):
            values[name] = None
            continue
        if raw == "" and widget != "text":
            continue
        try:
            values[name] = _typed(spec, widget, raw)
        except ValueError as exc:
            errors[name] = str(exc)
    return values, errors


def schema_errors(schema: dict | None, values: dict) -> dict:
    """A message per field for what the schema rejects in `values` ("" for errors of the whole)."""
    if not isinstance(schema, dict):
        return {}
    try:
        validator_class = jsonschema.validators.validator_for(schema)
        validator_class.check_schema(schema)
        found = sorted(validator_class(schema).iter_errors(values), key=lambda error: list(map(str, error.absolute_path)))
    except (jsonschema.SchemaError, jsonschema.exceptions.UnknownType, Unresolvable, RecursionError) as exc:
        return {"": f"The schema is not valid: {getattr(exc, 'message', exc)}"}
    errors = {}
    for error in found:
        if error.absolute_path:
            field, message = str(error.absolute_path[0]), error.message
            inner = ".".join(map(str, list(error.absolute_path)[1:]))
            if inner:
                message = f"{inner}: {message}"
        elif error.validator == "required":
            missing = [name for name in error.validator_value if name not in values]
            field, message = (missing[0] if missing else ""), "This field is required."
        else:
            field, message = "", error.message
        errors.setdefault(field, message)
    return errors


# Reading the schema ------------------------------------------------------------------------------


def _properties(schema: dict | None):
    """(name, resolved spec, required) per property, ordered by position then as listed."""
    if not isinstance(schema, dict):
        return []
    properties = schema.get("properties") or {}
    required = set(schema.get("required") or [])
    listed = [(name, _resolve(schema, spec)) for name, spec in properties.items() if isinstance(spec, dict)]
    ordered = sorted(enumerate(listed), key=lambda item: (item[1][1].get("position", NO_POSITION), item[0]))
    return [(name, spec, name in required) for _, (name, spec) in ordered]


def _resolve(root: dict, spec: dict, depth: int = 0) -> dict:
    """The property's own keywords over what it refers to: a local `$ref`, a one-element `allOf`,
    or the non-null member of `anyOf [X, null]` (then marked `nullable`)."""
    if depth > 10:
        return spec
    spec = dict(spec)
    ref = spec.pop("$ref", None)
    if isinstance(ref, str) and ref.startswith("#/"):
        target = root
        for part in ref[2:].split("/"):
            target = target.get(part) if isinstance(target, dict) else None
        if isinstance(target, dict):
            spec = {**_resolve(root, target, depth + 1), **spec}
    all_of = spec.get("allOf")
    if isinstance(all_of, list) and len(all_of) == 1 and isinstance(all_of[0], dict):
        del spec["allOf"]
        spec = {**_resolve(root, all_of[0], depth + 1), **spec}
    any_of = spec.get("anyOf")
    if isinstance(any_of, list):
        others = [member for member in any_of if not (isinstance(member, dict) and member.get("type") == "null")]
        if len(others) == 1 and len(others) < len(any_of) and isinstance(others[0], dict):
            del spec["anyOf"]
            spec = {**_resolve(root, others[0], depth + 1), **spec, "nullable": True}
    return spec


def _widget(spec: dict) -> str:
    if spec.get("enum"):
        return "select"
    kind = spec.get("type")
    if kind in ("integer", "number"):
        return "number"
    if kind == "boolean":
        return "checkbox"
    if kind == "string":
        return "text"
    return "json"


def _not_json(constant: str):
    raise ValueError(f"{constant} is not JSON")  # Python's json reads NaN / Infinity; JSON has no such numbers


def _option_text(option) -> str:
    return option if isinstance(option, str) else json.dumps(option)


def _typed(spec: dict, widget: str, raw: str):
    if widget == "select":
        for option in spec["enum"]:
            if _option_text(option) == raw:
                return option
        raise ValueError(f"{raw!r} is not one of the choices.")
    if widget == "number":
        try:
            number = int(raw) if spec.get("type") == "integer" else float(raw)
        except ValueError:
            raise ValueError(f"{raw!r} is not a valid {spec.get('type')}.") from None
        if isinstance(number, float) and not math.isfinite(number):
            raise ValueError(f"{raw!r} is not a finite number.")
        return number
    if widget == "json":
        try:
            return json.loads(raw, parse_constant=_not_json)
        except ValueError:
            raise ValueError(f"{raw!r} is not valid JSON.") from None
    return raw

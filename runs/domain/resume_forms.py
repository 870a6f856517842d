"""The run page's Resume form: a paused run that waits for input (pause_flow_run / suspend_flow_run
with `wait_for_input`) names, in its Paused state's `run_input_keyset`, the flow-run input holding
the JSON schema of what it expects (and, optionally, one holding a description). The form is
generated from that schema; what it submits is checked field by field, then handed to
resume_flow_run, which validates it again and resumes the run.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import timedelta

from django.utils import timezone

from runs.models import FlowRun, FlowRunInput, StateType
from runs.orchestration.context import OrchestrationResult

from .flow_run_inputs import resume_flow_run
from .schema_forms import parse_form, schema_errors, schema_fields


@dataclass
class ResumeForm:
    waits_for_input: bool
    fields: list[dict] = field(default_factory=list)
    description: str | None = None
    error: str | None = None  # what stops the whole form (no schema, or a rejection not tied to a field)
    # The client stores the schema just after the run pauses: until it is there, the page keeps looking.
    schema_pending: bool = False


@dataclass
class ResumeOutcome:
    result: OrchestrationResult | None  # None: the form had errors and nothing was tried
    form: ResumeForm | None


def input_keyset(run: FlowRun) -> dict | None:
    """The keyset of the input a paused run waits for, or None (not paused, or paused without input)."""
    if run.state_type != StateType.PAUSED or run.state is None:
        return None
    keyset = (run.state.state_details or {}).get("run_input_keyset")
    return keyset if isinstance(keyset, dict) and keyset.get("schema") else None


def resume_form(run: FlowRun, *, submitted=None, errors: dict | None = None) -> ResumeForm | None:
    """The Resume form of a paused run (None when the run is not paused)."""
    if run.state_type != StateType.PAUSED:
        return None
    keyset = input_keyset(run)
    if keyset is None:
        return ResumeForm(waits_for_input=False)
    rows = _input_rows(run, keyset)
    if keyset["schema"] not in rows or _description_may_follow(rows, keyset):
        return ResumeForm(waits_for_input=True, schema_pending=True)
    stored = {key: value for key, (value, _) in rows.items()}
    schema, problem = _schema(stored[keyset["schema"]])
    errors = dict(errors or {})
    return ResumeForm(
        waits_for_input=True,
        fields=schema_fields(schema, submitted=submitted, errors=errors) if schema else [],
        description=_description(stored.get(keyset.get("description"))),
        error=problem or errors.get(""),
    )


def submit_resume_form(run: FlowRun, form) -> ResumeOutcome:
    """Resume the run with the submitted input (or with none when it waits for none). Field errors
    come back on the form, and the run stays paused."""
    keyset = input_keyset(run)
    if keyset is None:
        return ResumeOutcome(result=resume_flow_run(flow_run_id=run.id), form=None)
    schema, problem = _schema(_inputs(run, keyset).get(keyset["schema"]))
    if problem:
        return ResumeOutcome(result=None, form=resume_form(run))
    values, unreadable = parse_form(schema, form)
    # Every problem at once: what the schema says of the readable fields, and why the others are not.
    errors = {**schema_errors(schema, values), **unreadable}
    if errors:
        return ResumeOutcome(result=None, form=resume_form(run, submitted=form, errors=errors))
    result = resume_flow_run(flow_run_id=run.id, run_input=values)
    if result.status == "REJECT":
        reason = (result.details or {}).get("reason") or "The input was rejected."
        return ResumeOutcome(result=result, form=resume_form(run, submitted=form, errors={"": reason}))
    return ResumeOutcome(result=result, form=None)


def _inputs(run: FlowRun, keyset: dict) -> dict[str, str]:
    return {key: value for key, (value, _) in _input_rows(run, keyset).items()}


def _input_rows(run: FlowRun, keyset: dict) -> dict[str, tuple[str, object]]:
    keys = [key for key in (keyset.get("schema"), keyset.get("description")) if key]
    rows = FlowRunInput.objects.filter(flow_run_id=run.id, key__in=keys).values_list("key", "value", "created")
    return {key: (value, created) for key, value, created in rows}


# The client stores a run's input schema, then (when it has one) its description, a moment apart.
DESCRIPTION_GRACE = timedelta(seconds=5)


def _description_may_follow(rows: dict, keyset: dict) -> bool:
    if not keyset.get("description") or keyset["description"] in rows:
        return False
    return timezone.now() - rows[keyset["schema"]][1] < DESCRIPTION_GRACE


def _schema(raw: str | None) -> tuple[dict | None, str | None]:
    if raw is None:
        return None, "The input schema of this run was not found: it cannot be resumed from here."
    try:
        schema = json.loads(raw)
    except ValueError:
        schema = None
    if not isinstance(schema, dict):
        return None, "The input schema of this run is not a JSON object: it cannot be resumed from here."
    return schema, None


def _description(raw: str | None) -> str | None:
    if raw is None:
        return None
    try:
        value = json.loads(raw)  # the client stores the description JSON-encoded
    except ValueError:
        return raw
    return value if isinstance(value, str) else None

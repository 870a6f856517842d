"""Automations: a trigger and the actions to run when it fires, stored and served as the client sends them.

Triggers and actions are checked here against the shapes the 3.8.8 client and UI build (event, compound
and sequence triggers; the sixteen action types) and stored normalised, with every default filled in, so
reads return what the reference server returns; runs/automations evaluates the triggers and runs the
actions. A deployment's triggers create automations *owned* by `prefect.deployment.<id>`; they are replaced
when it is deployed again. A `run-deployment` action with a selected deployment relates the automation to
that deployment too, so `prefect deployment inspect` lists it.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Any, ClassVar, Literal, Union
from uuid import UUID, uuid4

import orjson
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    field_serializer,
    field_validator,
    model_validator,
)

from runs.models import Automation, AutomationRelatedResource, StateType

from . import filters
from .errors import InvalidInput, NotFound

AUTOMATION_SORTS = {
    "CREATED_DESC": ["-created", "-id"],
    "UPDATED_DESC": ["-updated", "-id"],
    "NAME_ASC": ["name", "id"],
    "NAME_DESC": ["-name", "-id"],
}

ResourceSpecification = dict[str, Union[str, list[str]]]


def seconds(value: timedelta) -> float:
    return value.total_seconds()


def unique(values: list[str]) -> list[str]:
    # The reference treats these as sets; keep the first occurrence's order so reads are stable.
    return list(dict.fromkeys(values))


class Spec(BaseModel):
    model_config = ConfigDict(extra="ignore")


# Triggers ------------------------------------------------------------------------------------------


class EventTrigger(Spec):
    type: Literal["event"] = "event"
    id: UUID = Field(default_factory=uuid4)
    match: ResourceSpecification = Field(default_factory=dict)
    match_related: Union[ResourceSpecification, list[ResourceSpecification]] = Field(default_factory=dict)
    after: list[str] = Field(default_factory=list)
    expect: list[str] = Field(default_factory=list)
    for_each: list[str] = Field(default_factory=list)
    posture: Literal["Reactive", "Proactive"]
    threshold: int = 1
    within: timedelta = Field(default=timedelta(0), ge=timedelta(0))

    @model_validator(mode="before")
    @classmethod
    def proactive_triggers_wait_at_least_ten_seconds(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        if "within" in data and data["within"] is None:
            raise ValueError("`within` should be a valid timedelta")
        if data.get("posture") == "Proactive":
            within = data.get("within")
            if isinstance(within, (int, float)) and not isinstance(within, bool):
                within = timedelta(seconds=within)
            if not within:
                data = {**data, "within": timedelta(seconds=10)}
            elif isinstance(within, timedelta) and within < timedelta(seconds=10):
                raise ValueError("`within` for Proactive triggers must be greater than or equal to 10 seconds")
        return data

    @field_validator("after", "expect", "for_each")
    @classmethod
    def as_set(cls, value: list[str]) -> list[str]:
        return unique(value)

    @field_serializer("within")
    def within_seconds(self, value: timedelta) -> float:
        return seconds(value)


class CompoundTrigger(Spec):
    type: Literal["compound"] = "compound"
    id: UUID = Field(default_factory=uuid4)
    triggers: list[TriggerSpec]
    within: timedelta | None = None
    require: Union[int, Literal["any", "all"]]

    @model_validator(mode="after")
    def require_fits_the_triggers(self) -> CompoundTrigger:
        if isinstance(self.require, int):
            if self.require < 1:
                raise ValueError("require must be at least 1")
            if self.require > len(self.triggers):
                raise ValueError("require must be less than or equal to the number of triggers")
        return self

    @field_serializer("within")
    def within_seconds(self, value: timedelta | None) -> float | None:
        return None if value is None else seconds(value)


class SequenceTrigger(Spec):
    type: Literal["sequence"] = "sequence"
    id: UUID = Field(default_factory=uuid4)
    triggers: list[TriggerSpec]
    within: timedelta | None = None

    @field_serializer("within")
    def within_seconds(self, value: timedelta | None) -> float | None:
        return None if value is None else seconds(value)


def trigger_type(value: Any) -> str | None:
    # A trigger without a type is an event trigger, as in the client's own models.
    if isinstance(value, dict):
        return value.get("type", "event")
    return getattr(value, "type", None)


TriggerSpec = Annotated[
    Union[
        Annotated[EventTrigger, Tag("event")],
        Annotated[CompoundTrigger, Tag("compound")],
        Annotated[SequenceTrigger, Tag("sequence")],
    ],
    Discriminator(trigger_type),
]
CompoundTrigger.model_rebuild()
SequenceTrigger.model_rebuild()


def reset_trigger_ids(trigger) -> None:
    """Trigger ids are the server's to give, on create and on every full update."""
    trigger.id = uuid4()
    for child in getattr(trigger, "triggers", []):
        reset_trigger_ids(child)


def all_triggers(trigger) -> list:
    return [trigger, *[nested for child in getattr(trigger, "triggers", []) for nested in all_triggers(child)]]


# Actions -------------------------------------------------------------------------------------------


class SelectedOrInferred(Spec):
    """Actions on a deployment / work pool / work queue / automation: a selected one (its id is
    required) or the one inferred from the triggering event (no id allowed)."""

    target_field_name: ClassVar[str]
    source: Literal["selected", "inferred"] = "selected"

    @model_validator(mode="after")
    def selected_requires_an_id(self):
        field = type(self).target_field_name
        has_id = bool(getattr(self, field))
        if (self.source == "selected") != has_id:
            raise ValueError(f"{field} is " + ("not allowed" if has_id else "required"))
        return self


class DoNothing(Spec):
    type: Literal["do-nothing"] = "do-nothing"


class RunDeployment(SelectedOrInferred):
    target_field_name: ClassVar[str] = "deployment_id"
    type: Literal["run-deployment"] = "run-deployment"
    deployment_id: UUID | None = None
    parameters: dict[str, Any] | None = None
    job_variables: dict[str, Any] | None = None
    schedule_after: timedelta = Field(default=timedelta(0), ge=timedelta(0))

    @field_serializer("schedule_after")
    def schedule_after_seconds(self, value: timedelta) -> float:
        return seconds(value)


class PauseDeployment(SelectedOrInferred):
    target_field_name: ClassVar[str] = "deployment_id"
    type: Literal["pause-deployment"] = "pause-deployment"
    deployment_id: UUID | None = None


class ResumeDeployment(SelectedOrInferred):
    target_field_name: ClassVar[str] = "deployment_id"
    type: Literal["resume-deployment"] = "resume-deployment"
    deployment_id: UUID | None = None


class CancelFlowRun(Spec):
    type: Literal["cancel-flow-run"] = "cancel-flow-run"


class DeleteFlowRun(Spec):
    type: Literal["delete-flow-run"] = "delete-flow-run"


class SuspendFlowRun(Spec):
    type: Literal["suspend-flow-run"] = "suspend-flow-run"


class ResumeFlowRun(Spec):
    type: Literal["resume-flow-run"] = "resume-flow-run"


class ChangeFlowRunState(Spec):
    type: Literal["change-flow-run-state"] = "change-flow-run-state"
    name: str | None = None
    state: StateType
    message: str | None = None
    force: bool = False


class PauseWorkQueue(SelectedOrInferred):
    target_field_name: ClassVar[str] = "work_queue_id"
    type: Literal["pause-work-queue"] = "pause-work-queue"
    work_queue_id: UUID | None = None


class ResumeWorkQueue(SelectedOrInferred):
    target_field_name: ClassVar[str] = "work_queue_id"
    type: Literal["resume-work-queue"] = "resume-work-queue"
    work_queue_id: UUID | None = None


class PauseWorkPool(SelectedOrInferred):
    target_field_name: ClassVar[str] = "work_pool_id"
    type: Literal["pause-work-pool"] = "pause-work-pool"
    work_pool_id: UUID | None = None


class ResumeWorkPool(SelectedOrInferred):
    target_field_name: ClassVar[str] = "work_pool_id"
    type: Literal["resume-work-pool"] = "resume-work-pool"
    work_pool_id: UUID | None = None


class PauseAutomation(SelectedOrInferred):
    target_field_name: ClassVar[str] = "automation_id"
    type: Literal["pause-automation"] = "pause-automation"
    automation_id: UUID | None = None


class ResumeAutomation(SelectedOrInferred):
    target_field_name: ClassVar[str] = "automation_id"
    type: Literal["resume-automation"] = "resume-automation"
    automation_id: UUID | None = None


class SendNotification(Spec):
    type: Literal["send-notification"] = "send-notification"
    block_document_id: UUID
    subject: str = "Prefect automated notification"
    body: str


class CallWebhook(Spec):
    type: Literal["call-webhook"] = "call-webhook"
    block_document_id: UUID
    payload: str = ""


ActionSpec = Annotated[
    Union[
        DoNothing, RunDeployment, PauseDeployment, ResumeDeployment, CancelFlowRun, DeleteFlowRun,
        ChangeFlowRunState, PauseWorkQueue, ResumeWorkQueue, SendNotification, CallWebhook, PauseAutomation,
        ResumeAutomation, SuspendFlowRun, ResumeFlowRun, PauseWorkPool, ResumeWorkPool,
    ],
    Field(discriminator="type"),
]


# The automation ------------------------------------------------------------------------------------

FLOW_RUN_EVENTS_EVERY_DEPLOYED_RUN_EMITS = {
    "prefect.flow-run.Scheduled",
    "prefect.flow-run.Pending",
    "prefect.flow-run.Running",
    "prefect.flow-run.*",
}


def matches_every_flow_run(spec: ResourceSpecification) -> bool:
    if not spec:
        return True
    if len(spec) == 1 and "prefect.resource.id" in spec:
        values = spec["prefect.resource.id"]
        return "prefect.flow-run.*" in ([values] if isinstance(values, str) else values)
    return False


class AutomationSpec(BaseModel):
    """What a full create or update carries; unknown keys are refused, as the reference does."""

    model_config = ConfigDict(extra="forbid")

    name: str
    description: str = ""
    enabled: bool = True
    tags: list[str] = Field(default_factory=list)
    trigger: TriggerSpec
    actions: list[ActionSpec]
    actions_on_trigger: list[ActionSpec] = Field(default_factory=list)
    actions_on_resolve: list[ActionSpec] = Field(default_factory=list)

    @model_validator(mode="after")
    def no_run_deployment_loops(self) -> AutomationSpec:
        """A reactive trigger on the events every deployed run emits, running a deployment, would
        feed itself forever: refuse it unless the trigger is narrowed to some flow runs."""
        trigger = self.trigger
        if not self.enabled or not isinstance(trigger, EventTrigger) or trigger.posture != "Reactive":
            return self
        if not FLOW_RUN_EVENTS_EVERY_DEPLOYED_RUN_EMITS.intersection(trigger.expect):
            return self
        related = trigger.match_related if isinstance(trigger.match_related, list) else [trigger.match_related]
        for action in self.actions:
            if not isinstance(action, RunDeployment):
                continue
            if action.source == "inferred":
                raise ValueError(
                    "Running the deployment inferred from a flow run's state change would start runs that "
                    "trigger this automation again, forever. Select a specific deployment and narrow the "
                    "trigger's match or match_related."
                )
            if matches_every_flow_run(trigger.match) and any(matches_every_flow_run(spec) for spec in related):
                raise ValueError(
                    "Running a deployment on every flow run's state change may start runs that trigger this "
                    "automation again, forever. Add labels to the trigger's match or match_related so the "
                    "deployment's own runs do not match."
                )
        return self

    def columns(self) -> dict:
        data = self.model_dump(mode="json")
        return {field: data[field] for field in type(self).model_fields}


class AutomationCreateSpec(AutomationSpec):
    owner_resource: str | None = None

    def columns(self) -> dict:
        columns = super().columns()
        columns.pop("owner_resource")
        return columns


# Filters -------------------------------------------------------------------------------------------


class AutomationIdFilter(filters.FilterModel):
    any_: list[UUID] | None = None


class AutomationNameFilter(filters.FilterModel):
    any_: list[str] | None = None


class AutomationCreatedFilter(filters.FilterModel):
    before_: datetime | None = None


class AutomationTagsFilter(filters.OperatorFilter):
    all_: list[str] | None = None
    any_: list[str] | None = None
    is_null_: bool | None = None


class AutomationFilter(filters.OperatorFilter):
    id: AutomationIdFilter | None = None
    name: AutomationNameFilter | None = None
    created: AutomationCreatedFilter | None = None
    tags: AutomationTagsFilter | None = None

    def to_q(self, prefix: str = "") -> Q:
        clauses = []
        if self.id and self.id.any_ is not None:
            clauses.append(Q(**{f"{prefix}id__in": self.id.any_}))
        if self.name and self.name.any_ is not None:
            clauses.append(Q(**{f"{prefix}name__in": self.name.any_}))
        if self.created and self.created.before_ is not None:
            clauses.append(Q(**{f"{prefix}created__lte": self.created.before_}))
        if self.tags:
            tags = filters.TagsFilter(all_=self.tags.all_, any_=self.tags.any_, operator=self.tags.operator)
            clauses.append(tags.to_q(prefix))
            if self.tags.is_null_ is not None:
                empty = Q(**{f"{prefix}tags": []})
                clauses.append(empty if self.tags.is_null_ else ~empty)
        return filters.combine(clauses, self.operator)


# Operations ----------------------------------------------------------------------------------------


def deployment_resource_ids(spec: AutomationSpec) -> set[str]:
    return {
        f"prefect.deployment.{action.deployment_id}"
        for action in spec.actions
        if isinstance(action, RunDeployment) and action.source == "selected"
    }


def sync_related_deployments(automation: Automation, spec: AutomationSpec) -> None:
    """Relate the automation to the deployments its run-deployment actions select (ownership stays)."""
    AutomationRelatedResource.objects.filter(
        automation=automation, resource_id__startswith="prefect.deployment.", owned_by_resource=False
    ).delete()
    for resource_id in deployment_resource_ids(spec):
        relate_automation_to_resource(automation, resource_id, owned=False)


def relate_automation_to_resource(automation: Automation, resource_id: str, *, owned: bool) -> None:
    related, created = AutomationRelatedResource.objects.get_or_create(
        automation=automation, resource_id=resource_id, defaults={"owned_by_resource": owned}
    )
    if not created and owned and not related.owned_by_resource:
        related.owned_by_resource = True
        related.save(update_fields=["owned_by_resource", "updated"])


def create_automation(*, spec: AutomationCreateSpec) -> Automation:
    reset_trigger_ids(spec.trigger)
    with transaction.atomic():
        automation = Automation.objects.create(**spec.columns())
        sync_related_deployments(automation, spec)
        if spec.owner_resource:
            relate_automation_to_resource(automation, spec.owner_resource, owned=True)
    return automation


def read_automation(*, automation_id) -> Automation:
    try:
        return Automation.objects.get(id=automation_id)
    except Automation.DoesNotExist:
        raise NotFound("Automation not found") from None


def update_automation(*, automation_id, spec: AutomationSpec) -> Automation:
    reset_trigger_ids(spec.trigger)
    with transaction.atomic():
        automation = Automation.objects.select_for_update().filter(id=automation_id).first()
        if automation is None:
            raise NotFound("Automation not found")
        for field, value in spec.columns().items():
            setattr(automation, field, value)
        automation.save()
        sync_related_deployments(automation, spec)
    return automation


def set_automation_enabled(*, automation_id, enabled: bool) -> Automation:
    """Pause or resume. Re-checks the whole automation: enabling one that would loop is refused."""
    with transaction.atomic():
        automation = Automation.objects.select_for_update().filter(id=automation_id).first()
        if automation is None:
            raise NotFound("Automation not found")
        AutomationSpec.model_validate({**automation_json_core(automation), "enabled": enabled})
        automation.enabled = enabled
        automation.save(update_fields=["enabled", "updated"])
    return automation


def delete_automation(*, automation_id) -> None:
    deleted, _ = Automation.objects.filter(id=automation_id).delete()
    if not deleted:
        raise NotFound("Automation not found")


def read_automations(*, automations: AutomationFilter | None = None, sort: str = "NAME_ASC",
                     window: slice | None = None) -> list[Automation]:
    queryset = Automation.objects.filter(automations.to_q() if automations else filters.ALL)
    queryset = queryset.order_by(*AUTOMATION_SORTS[sort])
    return list(queryset[window] if window else queryset)


def count_automations(*, automations: AutomationFilter | None = None) -> int:
    return Automation.objects.filter(automations.to_q() if automations else filters.ALL).count()


def read_automations_related_to(*, resource_id: str) -> list[Automation]:
    return list(
        Automation.objects.filter(related_resources__resource_id=resource_id).distinct().order_by("name", "id")
    )


def delete_automations_owned_by(*, resource_id: str) -> list[UUID]:
    """Drop the automations a resource owns (a deployment's triggers), created before now: the ones
    a concurrent deploy is creating right now stay."""
    with transaction.atomic():
        ids = list(
            Automation.objects.filter(
                related_resources__resource_id=resource_id,
                related_resources__owned_by_resource=True,
                created__lte=timezone.now(),
            ).values_list("id", flat=True)
        )
        Automation.objects.filter(id__in=ids).delete()
    return ids


def automation_json_core(automation: Automation) -> dict:
    return {
        "name": automation.name,
        "description": automation.description,
        "enabled": automation.enabled,
        "tags": automation.tags,
        "trigger": automation.trigger,
        "actions": automation.actions,
        "actions_on_trigger": automation.actions_on_trigger,
        "actions_on_resolve": automation.actions_on_resolve,
    }


def automation_json(automation: Automation) -> dict:
    return {
        "id": automation.id,
        "created": automation.created,
        "updated": automation.updated,
        **automation_json_core(automation),
    }


# Templates -----------------------------------------------------------------------------------------

MAX_TEMPLATE_LOOPS = 10
MAX_NESTED_TEMPLATE_LOOPS = 2


class TemplateProblem(BaseModel):
    line: int
    message: str


def template_from_body(body: bytes) -> str:
    """The /templates/validate body is the template as one JSON string; an empty body is ""."""
    if not body.strip():
        return ""
    try:
        value = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise InvalidInput("The body must be the template as a JSON string.") from None
    if not isinstance(value, str):
        raise InvalidInput("The body must be the template as a JSON string.")
    return value


def template_problem(template: str) -> TemplateProblem | None:
    """A Jinja syntax error, or loops beyond what actions may render (too many, nested too deep)."""
    try:
        from jinja2 import TemplateSyntaxError, nodes
        from jinja2.sandbox import ImmutableSandboxedEnvironment
    except ImportError:  # pragma: no cover - Jinja2 is a runtime requirement
        raise InvalidInput("Template validation needs the Jinja2 package on the server.") from None
    try:
        root = ImmutableSandboxedEnvironment().parse(template)
    except TemplateSyntaxError as exc:
        return TemplateProblem(line=exc.lineno or 0, message=exc.message or str(exc))
    loops = list(root.find_all(nodes.For))
    if len(loops) > MAX_TEMPLATE_LOOPS:
        return TemplateProblem(line=0, message=f"Contains {len(loops)} for loops. Templates can contain no "
                                               f"more than {MAX_TEMPLATE_LOOPS} for loops.")
    depth = max((loop_depth(loop) for loop in loops), default=0)
    if depth > MAX_NESTED_TEMPLATE_LOOPS:
        return TemplateProblem(line=0, message=f"Contains nested for loops at a depth of {depth}. Templates "
                                               f"can nest for loops no more than {MAX_NESTED_TEMPLATE_LOOPS} "
                                               "loops deep.")
    return None


def loop_depth(node, depth: int = 0) -> int:
    from jinja2 import nodes

    if isinstance(node, nodes.For):
        depth += 1
    return max((loop_depth(child, depth) for child in node.iter_child_nodes()), default=depth)

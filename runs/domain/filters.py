"""The client's filter objects and how each becomes a query.

One class per filter the wire format knows; each `to_q(prefix)` returns a Django Q for the model the
filter describes, with `prefix` pointing at that model from the queryset being filtered (for
example ``"flow__"`` when a FlowFilter narrows flow runs). JSON null anywhere means "not provided".
The API's /filter endpoints and the dashboard's lists both use these classes.
"""

from __future__ import annotations

from datetime import datetime
from functools import reduce
from typing import Literal
from uuid import UUID

from django.db.models import Q
from pydantic import BaseModel, ConfigDict

ALL = Q()


class FilterModel(BaseModel):
    model_config = ConfigDict(extra="ignore")

    def clauses(self, prefix: str) -> list[Q]:
        """The conditions this filter sets, one Q each; unset parts contribute nothing."""
        clauses = []
        for name in type(self).model_fields:
            value = getattr(self, name)
            if isinstance(value, FilterModel):
                clauses.append(value.to_q(prefix))
        return clauses

    def to_q(self, prefix: str = "") -> Q:
        return combine(self.clauses(prefix), getattr(self, "operator", "and_"))


def combine(clauses: list[Q], operator: str = "and_") -> Q:
    clauses = [clause for clause in clauses if clause is not ALL and clause != ALL]
    if not clauses:
        return ALL
    return reduce((lambda a, b: a | b) if operator == "or_" else (lambda a, b: a & b), clauses)


def when(condition, q: Q) -> Q:
    return q if condition else ALL


class OperatorFilter(FilterModel):
    operator: Literal["and_", "or_"] = "and_"


# Field-level filters, reused by every resource -----------------------------------------------------


class IdFilter(FilterModel):
    any_: list[UUID] | None = None
    not_any_: list[UUID] | None = None

    def to_q(self, prefix: str = "", field: str = "id") -> Q:
        return combine([
            when(self.any_ is not None, Q(**{f"{prefix}{field}__in": self.any_ or []})),
            when(self.not_any_, ~Q(**{f"{prefix}{field}__in": self.not_any_ or []})),
        ])


class NullableIdFilter(OperatorFilter):
    any_: list[UUID] | None = None
    not_any_: list[UUID] | None = None
    is_null_: bool | None = None

    def to_q(self, prefix: str = "", field: str = "id") -> Q:
        return combine([
            when(self.any_ is not None, Q(**{f"{prefix}{field}__in": self.any_ or []})),
            when(self.not_any_, ~Q(**{f"{prefix}{field}__in": self.not_any_ or []})),
            when(self.is_null_ is not None, Q(**{f"{prefix}{field}__isnull": bool(self.is_null_)})),
        ], self.operator)


class NameFilter(FilterModel):
    any_: list[str] | None = None
    like_: str | None = None
    not_any_: list[str] | None = None
    startswith_: str | None = None

    def to_q(self, prefix: str = "", field: str = "name") -> Q:
        return combine([
            when(self.any_ is not None, Q(**{f"{prefix}{field}__in": self.any_ or []})),
            when(self.like_, Q(**{f"{prefix}{field}__icontains": self.like_})),
            when(self.not_any_, ~Q(**{f"{prefix}{field}__in": self.not_any_ or []})),
            when(self.startswith_, Q(**{f"{prefix}{field}__startswith": self.startswith_})),
        ])


class StringFilter(OperatorFilter):
    any_: list[str] | None = None
    not_any_: list[str] | None = None
    is_null_: bool | None = None

    def to_q(self, prefix: str = "", field: str = "") -> Q:
        return combine([
            when(self.any_ is not None, Q(**{f"{prefix}{field}__in": self.any_ or []})),
            when(self.not_any_, ~Q(**{f"{prefix}{field}__in": self.not_any_ or []})),
            when(self.is_null_ is not None, Q(**{f"{prefix}{field}__isnull": bool(self.is_null_)})),
        ], self.operator)


class TagsFilter(OperatorFilter):
    all_: list[str] | None = None
    any_: list[str] | None = None
    is_null_: bool | None = None

    def to_q(self, prefix: str = "", field: str = "tags") -> Q:
        # Tags are a JSON list; `contains` is a JSON containment test on PostgreSQL and SQLite alike.
        column = f"{prefix}{field}"
        return combine([
            combine([Q(**{f"{column}__has_tag": tag}) for tag in self.all_ or []]),
            when(self.any_ is not None,
                 combine([Q(**{f"{column}__has_tag": tag}) for tag in self.any_ or []], "or_")
                 if self.any_ else Q(pk__in=[])),
            when(self.is_null_ is True, Q(**{f"{column}": []}) | Q(**{f"{column}__isnull": True})),
            when(self.is_null_ is False, ~Q(**{f"{column}": []}) & Q(**{f"{column}__isnull": False})),
        ], self.operator)


class TimeFilter(FilterModel):
    before_: datetime | None = None
    after_: datetime | None = None
    is_null_: bool | None = None

    def to_q(self, prefix: str = "", field: str = "") -> Q:
        column = f"{prefix}{field}"
        return combine([
            when(self.before_ is not None, Q(**{f"{column}__lte": self.before_})),
            when(self.after_ is not None, Q(**{f"{column}__gte": self.after_})),
            when(self.is_null_ is not None, Q(**{f"{column}__isnull": bool(self.is_null_)})),
        ])


class StateTypeFilter(FilterModel):
    any_: list[str] | None = None
    not_any_: list[str] | None = None


class StateNameFilter(FilterModel):
    any_: list[str] | None = None
    not_any_: list[str] | None = None


class StateFilter(OperatorFilter):
    type: StateTypeFilter | None = None
    name: StateNameFilter | None = None

    def to_q(self, prefix: str = "") -> Q:
        clauses = []
        for part, column in ((self.type, "state_type"), (self.name, "state_name")):
            if part is None:
                continue
            clauses.append(when(part.any_ is not None, Q(**{f"{prefix}{column}__in": part.any_ or []})))
            clauses.append(when(part.not_any_, ~Q(**{f"{prefix}{column}__in": part.not_any_ or []})))
        return combine(clauses, self.operator)


# Resource filters ----------------------------------------------------------------------------------


class FlowDeploymentFilter(OperatorFilter):
    is_null_: bool | None = None


class FlowFilter(OperatorFilter):
    id: IdFilter | None = None
    name: NameFilter | None = None
    tags: TagsFilter | None = None
    deployment: FlowDeploymentFilter | None = None

    def to_q(self, prefix: str = "") -> Q:
        return combine([
            self.id.to_q(prefix) if self.id else ALL,
            self.name.to_q(prefix) if self.name else ALL,
            self.tags.to_q(prefix) if self.tags else ALL,
            self.deployment_q(prefix),
        ], self.operator)

    def deployment_q(self, prefix: str) -> Q:
        if not self.deployment or self.deployment.is_null_ is None:
            return ALL
        from runs.models import Deployment

        with_deployment = Deployment.objects.values("flow_id")
        q = Q(**{f"{prefix}id__in": with_deployment})
        return ~q if self.deployment.is_null_ else q


class FlowRunFilter(OperatorFilter):
    id: IdFilter | None = None
    name: NameFilter | None = None
    tags: TagsFilter | None = None
    deployment_id: NullableIdFilter | None = None
    work_queue_name: StringFilter | None = None
    state: StateFilter | None = None
    flow_version: StringFilter | None = None
    start_time: TimeFilter | None = None
    end_time: TimeFilter | None = None
    expected_start_time: TimeFilter | None = None
    next_scheduled_start_time: TimeFilter | None = None
    parent_flow_run_id: NullableIdFilter | None = None
    parent_task_run_id: NullableIdFilter | None = None
    idempotency_key: StringFilter | None = None

    def to_q(self, prefix: str = "") -> Q:
        clauses = [
            self.id.to_q(prefix) if self.id else ALL,
            self.name.to_q(prefix) if self.name else ALL,
            self.tags.to_q(prefix) if self.tags else ALL,
            self.deployment_id.to_q(prefix, "deployment_id") if self.deployment_id else ALL,
            self.work_queue_name.to_q(prefix, "work_queue_name") if self.work_queue_name else ALL,
            self.state.to_q(prefix) if self.state else ALL,
            self.flow_version.to_q(prefix, "flow_version") if self.flow_version else ALL,
            self.parent_task_run_id.to_q(prefix, "parent_task_run_id") if self.parent_task_run_id else ALL,
            self.idempotency_key.to_q(prefix, "idempotency_key") if self.idempotency_key else ALL,
            self.parent_flow_run_q(prefix),
        ]
        for column in ("start_time", "end_time", "expected_start_time", "next_scheduled_start_time"):
            part = getattr(self, column)
            clauses.append(part.to_q(prefix, column) if part else ALL)
        return combine(clauses, self.operator)

    def parent_flow_run_q(self, prefix: str) -> Q:
        """Subflow runs of the given flow runs: children whose parent task run belongs to them."""
        from runs.models import TaskRun

        part = self.parent_flow_run_id
        if not part or part.any_ is None:
            return ALL
        # A subquery on task runs by flow run uses their index; joining from every flow run does not.
        parent_tasks = TaskRun.objects.filter(flow_run_id__in=part.any_).values("id")
        return Q(**{f"{prefix}parent_task_run_id__in": parent_tasks})


class TaskRunSubFlowFilter(FilterModel):
    exists_: bool | None = None


class TaskRunFilter(OperatorFilter):
    id: IdFilter | None = None
    name: NameFilter | None = None
    tags: TagsFilter | None = None
    state: StateFilter | None = None
    start_time: TimeFilter | None = None
    end_time: TimeFilter | None = None
    expected_start_time: TimeFilter | None = None
    subflow_runs: TaskRunSubFlowFilter | None = None
    flow_run_id: NullableIdFilter | None = None

    def to_q(self, prefix: str = "") -> Q:
        clauses = [
            self.id.to_q(prefix) if self.id else ALL,
            self.name.to_q(prefix) if self.name else ALL,
            self.tags.to_q(prefix) if self.tags else ALL,
            self.state.to_q(prefix) if self.state else ALL,
            self.flow_run_id.to_q(prefix, "flow_run_id") if self.flow_run_id else ALL,
        ]
        for column in ("start_time", "end_time", "expected_start_time"):
            part = getattr(self, column)
            clauses.append(part.to_q(prefix, column) if part else ALL)
        if self.subflow_runs and self.subflow_runs.exists_ is not None:
            has_subflow = Q(**{f"{prefix}subflow_runs__isnull": False})
            clauses.append(has_subflow if self.subflow_runs.exists_ else ~has_subflow)
        return combine(clauses, self.operator)


class DeploymentPausedFilter(FilterModel):
    eq_: bool | None = None


class DeploymentOrFlowNameFilter(FilterModel):
    like_: str | None = None


class DeploymentConcurrencyLimitFilter(FilterModel):
    ge_: int | None = None
    le_: int | None = None
    is_null_: bool | None = None


class DeploymentFilter(OperatorFilter):
    id: IdFilter | None = None
    name: NameFilter | None = None
    flow_or_deployment_name: DeploymentOrFlowNameFilter | None = None
    paused: DeploymentPausedFilter | None = None
    tags: TagsFilter | None = None
    work_queue_name: StringFilter | None = None
    concurrency_limit: DeploymentConcurrencyLimitFilter | None = None

    def to_q(self, prefix: str = "") -> Q:
        clauses = [
            self.id.to_q(prefix) if self.id else ALL,
            self.name.to_q(prefix) if self.name else ALL,
            self.tags.to_q(prefix) if self.tags else ALL,
            self.work_queue_name.to_q(prefix, "work_queue_name") if self.work_queue_name else ALL,
        ]
        if self.paused and self.paused.eq_ is not None:
            clauses.append(Q(**{f"{prefix}paused": self.paused.eq_}))
        if self.flow_or_deployment_name and self.flow_or_deployment_name.like_:
            like = self.flow_or_deployment_name.like_
            clauses.append(Q(**{f"{prefix}name__icontains": like}) | Q(**{f"{prefix}flow__name__icontains": like}))
        limit = self.concurrency_limit
        if limit:
            clauses.append(when(limit.ge_ is not None, Q(**{f"{prefix}concurrency_limit__gte": limit.ge_})))
            clauses.append(when(limit.le_ is not None, Q(**{f"{prefix}concurrency_limit__lte": limit.le_})))
            clauses.append(when(limit.is_null_ is not None, Q(**{f"{prefix}concurrency_limit__isnull": bool(limit.is_null_)})))
        return combine(clauses, self.operator)

    def runs_q(self, prefix: str = "") -> Q:
        """Runs (flow or task, via `prefix`) of the matching deployments."""
        from runs.models import Deployment

        own_q = self.to_q()
        if own_q == ALL:
            return ALL
        if set(self.model_fields_set) <= {"id", "operator"} and self.id:
            return self.id.to_q(prefix, "deployment_id")  # no join needed for ids alone
        return Q(**{f"{prefix}deployment_id__in": Deployment.objects.filter(own_q).values("id")})


class LevelFilter(FilterModel):
    ge_: int | None = None
    le_: int | None = None


class TextSearchFilter(FilterModel):
    query: str | None = None


class LogFilter(OperatorFilter):
    name: NameFilter | None = None
    level: LevelFilter | None = None
    timestamp: TimeFilter | None = None
    flow_run_id: NullableIdFilter | None = None
    task_run_id: NullableIdFilter | None = None
    text: TextSearchFilter | None = None

    def to_q(self, prefix: str = "") -> Q:
        clauses = [
            self.name.to_q(prefix) if self.name else ALL,
            self.timestamp.to_q(prefix, "timestamp") if self.timestamp else ALL,
            self.flow_run_id.to_q(prefix, "flow_run_id") if self.flow_run_id else ALL,
            self.task_run_id.to_q(prefix, "task_run_id") if self.task_run_id else ALL,
        ]
        if self.level:
            clauses.append(when(self.level.ge_ is not None, Q(**{f"{prefix}level__gte": self.level.ge_})))
            clauses.append(when(self.level.le_ is not None, Q(**{f"{prefix}level__lte": self.level.le_})))
        if self.text and self.text.query:
            clauses.append(text_search_q(self.text.query, [f"{prefix}message", f"{prefix}name"]))
        return combine(clauses, self.operator)


def text_search_q(query: str, columns: list[str]) -> Q:
    """Terms must all appear (in any of the columns); a leading '-' excludes a term."""
    clauses = []
    for term in query.split():
        negate = term.startswith("-") and len(term) > 1
        term = term[1:] if negate else term
        match = combine([Q(**{f"{column}__icontains": term}) for column in columns], "or_")
        clauses.append(~match if negate else match)
    return combine(clauses)


# Combining the cross-resource filters of a /filter body --------------------------------------------


def flow_run_q(*, flows=None, flow_runs=None, task_runs=None, deployments=None) -> Q:
    """Flow runs matching every given filter: the flow's, the run's own, and those of its task runs."""
    from runs.models import TaskRun

    clauses = [
        flows.to_q("flow__") if flows else ALL,
        flow_runs.to_q() if flow_runs else ALL,
        deployments.runs_q() if deployments else ALL,
    ]
    if task_runs:
        task_q = task_runs.to_q()
        if task_q != ALL:
            clauses.append(Q(id__in=TaskRun.objects.filter(task_q).values("flow_run_id")))
    return combine(clauses)


def task_run_q(*, flows=None, flow_runs=None, task_runs=None, deployments=None) -> Q:
    clauses = [
        task_runs.to_q() if task_runs else ALL,
        flows.to_q("flow_run__flow__") if flows else ALL,
        flow_runs.to_q("flow_run__") if flow_runs else ALL,
        deployments.runs_q("flow_run__") if deployments else ALL,
    ]
    return combine(clauses)


def flow_q(*, flows=None, flow_runs=None, task_runs=None, deployments=None) -> Q:
    from runs.models import FlowRun

    clauses = [flows.to_q() if flows else ALL]
    run_q = flow_run_q(flow_runs=flow_runs, task_runs=task_runs, deployments=deployments)
    if run_q != ALL:
        clauses.append(Q(id__in=FlowRun.objects.filter(run_q).values("flow_id")))
    return combine(clauses)

"""What the dashboard shows and the actions it offers, as queries sized for a big history.

Every list here is one query (plus one count where paging needs it): state and flow come from the
run row or a join, never per row. Aggregates are computed by the database, not by iterating rows.
Actions go through the same domain functions as the API, so orchestration decides them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from uuid import UUID

from django.db.models import Count, F, Func, IntegerField, OuterRef, Q, Subquery
from django.utils import timezone

from runs.models import TERMINAL_STATE_TYPES, Flow, FlowRun, FlowRunState, Log, StateType, TaskRun

from . import filters, flow_runs
from .errors import InvalidInput, NotFound

# The order states are listed and stacked in, most alarming first after the running ones.
STATE_ORDER = [
    StateType.RUNNING,
    StateType.PENDING,
    StateType.SCHEDULED,
    StateType.PAUSED,
    StateType.CANCELLING,
    StateType.COMPLETED,
    StateType.FAILED,
    StateType.CRASHED,
    StateType.CANCELLED,
]
FAILURE_TYPES = (StateType.FAILED, StateType.CRASHED)
ACTIVE_TYPES = (StateType.RUNNING, StateType.CANCELLING, StateType.PENDING, StateType.PAUSED)

# window name -> (length, bucket width) for the home page; about 24-60 bars each.
WINDOWS = {
    "hour": (timedelta(hours=1), timedelta(minutes=2)),
    "day": (timedelta(days=1), timedelta(hours=1)),
    "week": (timedelta(days=7), timedelta(hours=6)),
}
DEFAULT_WINDOW = "day"


# What a row of any run list shows: the wide JSON columns (parameters, context, ...) stay unread,
# which keeps sorts in memory on big tables.
RUN_LIST_FIELDS = (
    "id", "name", "tags", "flow_id", "flow__name", "state_type", "state_name", "state_timestamp",
    "expected_start_time", "start_time", "end_time", "total_run_time", "parent_task_run_id",
)


def run_rows():
    return FlowRun.objects.select_related("flow").only(*RUN_LIST_FIELDS)


# Home ------------------------------------------------------------------------------------------


class BucketIndex(Func):
    """Which `width`-second bucket after `start` a timestamp falls in, computed in SQL."""

    output_field = IntegerField()

    def __init__(self, column, start: datetime, width: timedelta):
        self.start, self.width = start, width.total_seconds()
        super().__init__(column)

    def as_sql(self, compiler, connection, **extra):
        column_sql, params = compiler.compile(self.source_expressions[0])
        if connection.vendor == "postgresql":
            sql = f"FLOOR(EXTRACT(EPOCH FROM ({column_sql} - %s::timestamptz)) / %s)::integer"
        else:
            # Whole milliseconds first: julianday's float error would put an edge in the bucket before.
            sql = f"CAST(ROUND((julianday({column_sql}) - julianday(%s)) * 86400000.0) / (%s * 1000.0) AS INTEGER)"
        start = self.start if connection.vendor == "postgresql" else self.start.strftime("%Y-%m-%d %H:%M:%S.%f")
        return sql, [*params, start, self.width]


@dataclass
class HistoryBar:
    start: datetime
    end: datetime
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return sum(self.counts.values())


def home_window(name: str | None) -> str:
    return name if name in WINDOWS else DEFAULT_WINDOW


def state_counts(*, since: datetime) -> dict[str, int]:
    """Flow runs expected to start since `since`, per state type (every type present, zeros too)."""
    rows = (
        FlowRun.objects.filter(expected_start_time__gte=since)
        .values("state_type")
        .annotate(n=Count("*"))  # not Count("id"): the id is not in the index this is read from
        .order_by()
    )
    counts = {state: 0 for state in STATE_ORDER}
    for row in rows:
        if row["state_type"]:
            counts[row["state_type"]] = row["n"]
    return counts


def _bucketed_counts(*, start: datetime, width: timedelta, end: datetime | None = None):
    """(bucket, state_type, n) rows for runs expected from `start` (to `end`), one grouped pass
    over the (expected_start_time, state_type) index."""
    queryset = FlowRun.objects.filter(expected_start_time__gte=start)
    if end is not None:
        queryset = queryset.filter(expected_start_time__lt=end)
    return (
        queryset.annotate(bucket=BucketIndex("expected_start_time", start, width))
        .values("bucket", "state_type")
        .annotate(n=Count("*"))
        .order_by()
    )


def _empty_bars(*, start: datetime, length: timedelta, width: timedelta) -> list[HistoryBar]:
    return [HistoryBar(start + i * width, start + (i + 1) * width) for i in range(int(length / width))]


def run_history(*, end: datetime, length: timedelta, width: timedelta) -> list[HistoryBar]:
    """Runs per time bucket and state over [end - length, end), counted by the database."""
    start = end - length
    bars = _empty_bars(start=start, length=length, width=width)
    for row in _bucketed_counts(start=start, width=width, end=end):
        if 0 <= row["bucket"] < len(bars) and row["state_type"]:
            bars[row["bucket"]].counts[row["state_type"]] = row["n"]
    return bars


def home_stats(*, now: datetime, length: timedelta, width: timedelta) -> tuple[dict[str, int], list[HistoryBar]]:
    """`state_counts(since=now - length)` and `run_history(end=now, ...)` from one scan: the runs
    expected later than now (upcoming scheduled ones) fall in buckets past the chart and are only counted."""
    start = now - length
    counts = {state: 0 for state in STATE_ORDER}
    bars = _empty_bars(start=start, length=length, width=width)
    for row in _bucketed_counts(start=start, width=width):
        if not row["state_type"]:
            continue
        counts[row["state_type"]] = counts.get(row["state_type"], 0) + row["n"]
        if 0 <= row["bucket"] < len(bars):
            bars[row["bucket"]].counts[row["state_type"]] = row["n"]
    return counts, bars


def history_chart(bars: list[HistoryBar], *, width: int = 720, height: int = 160) -> dict:
    """Geometry for the stacked-bar SVG: one rect per (bar, state) with a non-zero count."""
    peak = max((bar.total for bar in bars), default=0) or 1
    slot = width / max(len(bars), 1)
    gap = min(2.0, slot * 0.2)
    rects = []
    for index, bar in enumerate(bars):
        y = float(height)
        for state in STATE_ORDER:
            count = bar.counts.get(state, 0)
            if not count:
                continue
            h = max(count / peak * height, 1.0)
            y -= h
            # Coordinates as ready strings: the template would otherwise localize each float.
            rects.append({
                "x": f"{index * slot + gap / 2:.2f}", "y": f"{y:.2f}", "w": f"{slot - gap:.2f}", "h": f"{h:.2f}",
                "state": state, "count": count, "start": bar.start, "end": bar.end,
            })
    return {"width": width, "height": height, "peak": peak, "rects": rects, "bars": bars}


def latest_failures(*, limit: int = 10) -> list[FlowRun]:
    return list(
        run_rows()
        .filter(state_type__in=FAILURE_TYPES, end_time__isnull=False)
        .order_by("-end_time")[:limit]
    )


def active_runs(*, limit: int = 20) -> tuple[list[FlowRun], int]:
    queryset = FlowRun.objects.filter(state_type__in=ACTIVE_TYPES)
    runs = list(run_rows().filter(state_type__in=ACTIVE_TYPES).order_by(F("start_time").desc(nulls_last=True), "-expected_start_time")[:limit])
    total = len(runs) if len(runs) < limit else queryset.count()
    return runs, total


# Flows -----------------------------------------------------------------------------------------


def flows_with_stats(*, search: str = "", window: slice = slice(0, 50)) -> tuple[list[Flow], int]:
    """Flows with their run count and last run (by expected start): the page with its last runs in
    one query, the counts for the whole page in a second (one grouped scan, not one per flow)."""
    queryset = Flow.objects.all()
    if search:
        queryset = queryset.filter(name__icontains=search)
    last_run = FlowRun.objects.filter(flow_id=OuterRef("pk")).order_by("-expected_start_time", "-id")
    page = list(
        queryset.order_by("name")
        .annotate(
            last_run_id=Subquery(last_run.values("id")[:1]),
            last_run_name=Subquery(last_run.values("name")[:1]),
            last_run_state_type=Subquery(last_run.values("state_type")[:1]),
            last_run_state_name=Subquery(last_run.values("state_name")[:1]),
            last_run_time=Subquery(last_run.values("expected_start_time")[:1]),
        )[window]
    )
    counts = dict(
        FlowRun.objects.filter(flow_id__in=[flow.id for flow in page])
        # Count("*"), not Count("id"): counted from the flow index alone instead of reading every run row.
        .values("flow_id").annotate(n=Count("*")).order_by().values_list("flow_id", "n")
    ) if page else {}
    for flow in page:
        flow.run_count = counts.get(flow.id, 0)
    first_page_is_all = window.start == 0 and len(page) < window.stop
    return page, len(page) if first_page_is_all else queryset.count()


def read_flow(*, flow_id) -> Flow:
    flow = Flow.objects.filter(id=flow_id).first()
    if flow is None:
        raise NotFound("Flow not found")
    return flow


# Flow run list ---------------------------------------------------------------------------------

RUN_SORTS = {
    "newest": ("Newest first", ["-expected_start_time", "-id"]),
    "oldest": ("Oldest first", ["expected_start_time", "id"]),
    "started": ("Recently started", [F("start_time").desc(nulls_last=True), "-id"]),
    "ended": ("Recently ended", [F("end_time").desc(nulls_last=True), "-id"]),
    "name": ("Name A-Z", ["name", "id"]),
    "-name": ("Name Z-A", ["-name", "-id"]),
    "duration": ("Longest run time", ["-total_run_time", "-id"]),
}
DEFAULT_SORT = "newest"
RANGES = {
    "1h": ("Last hour", timedelta(hours=1)),
    "24h": ("Last day", timedelta(days=1)),
    "7d": ("Last 7 days", timedelta(days=7)),
    "30d": ("Last 30 days", timedelta(days=30)),
}
PAGE_SIZE = 50


@dataclass
class RunQuery:
    """The run list's filters, as read from (and written back to) the URL."""

    states: list[str] = field(default_factory=list)
    flows: list[UUID] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)
    search: str = ""
    range: str = ""
    since: datetime | None = None
    until: datetime | None = None
    sort: str = DEFAULT_SORT
    page: int = 1

    def narrows(self, *, beyond_flow: bool = False) -> bool:
        """Whether any filter is set (on a flow's own page, whether any besides the flow is)."""
        return bool(self.states or self.tags or self.search or self.range or self.since or self.until
                    or (self.flows and not beyond_flow))

    def flow_run_filter(self, now: datetime | None = None) -> filters.FlowRunFilter:
        now = now or timezone.now()
        after = now - RANGES[self.range][1] if self.range in RANGES else self.since
        return filters.FlowRunFilter(
            state=filters.StateFilter(type=filters.StateTypeFilter(any_=self.states)) if self.states else None,
            tags=filters.TagsFilter(any_=self.tags) if self.tags else None,
            name=filters.NameFilter(like_=self.search) if self.search else None,
            expected_start_time=filters.TimeFilter(after_=after, before_=self.until) if (after or self.until) else None,
        )

    def flow_filter(self) -> filters.FlowFilter | None:
        return filters.FlowFilter(id=filters.IdFilter(any_=self.flows)) if self.flows else None


def parse_run_query(params) -> RunQuery:
    """Read the list's filters from a QueryDict; anything malformed raises InvalidInput (-> 400)."""
    states = [value.upper() for value in params.getlist("state") if value]
    unknown = [state for state in states if state not in StateType.values]
    if unknown:
        raise InvalidInput(f"Unknown state: {', '.join(unknown)}")
    try:
        flow_ids = [UUID(value) for value in params.getlist("flow") if value]
    except ValueError:
        raise InvalidInput("A flow filter is not a valid id.") from None
    tags = [tag.strip() for value in params.getlist("tag") for tag in value.split(",") if tag.strip()]
    sort = params.get("sort") or DEFAULT_SORT
    if sort not in RUN_SORTS:
        raise InvalidInput(f"Unknown sort: {sort}")
    time_range = params.get("range") or ""
    if time_range and time_range not in RANGES:
        raise InvalidInput(f"Unknown time range: {time_range}")
    try:
        page = int(params.get("page") or 1)
    except ValueError:
        raise InvalidInput("Page must be a number.") from None
    if page < 1:
        raise InvalidInput("Page must be 1 or more.")
    return RunQuery(
        states=states, flows=flow_ids, tags=tags, search=(params.get("q") or "").strip()[:200],
        range=time_range, since=_parse_time(params.get("since"), "since"), until=_parse_time(params.get("until"), "until"),
        sort=sort, page=page,
    )


def _parse_time(value: str | None, label: str) -> datetime | None:
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise InvalidInput(f"'{label}' is not a date and time (use YYYY-MM-DDTHH:MM).") from None
    return timezone.make_aware(parsed) if timezone.is_naive(parsed) else parsed


def run_page(query: RunQuery, *, page_size: int = PAGE_SIZE) -> tuple[list[FlowRun], int]:
    """One page of runs (with their flow) and the total that match."""
    q = filters.flow_run_q(flows=query.flow_filter(), flow_runs=query.flow_run_filter())
    queryset = FlowRun.objects.filter(q)
    offset = (query.page - 1) * page_size
    runs = list(run_rows().filter(q).order_by(*RUN_SORTS[query.sort][1])[offset : offset + page_size])
    total = offset + len(runs) if 0 < len(runs) < page_size else queryset.count()
    return runs, total


def flow_choices() -> list[tuple[UUID, str]]:
    return list(Flow.objects.order_by("name").values_list("id", "name")[:500])


# One flow run ----------------------------------------------------------------------------------

TASK_RUN_LIMIT = 200  # rows on the run page; the count says how many more there are
TASK_ROW_FIELDS = ("id", "name", "tags", "task_key", "flow_run_id", "state_type", "state_name", "state_timestamp",
                   "expected_start_time", "start_time", "end_time", "total_run_time")


def read_flow_run(*, flow_run_id) -> FlowRun:
    run = FlowRun.objects.select_related("flow", "state", "parent_task_run").filter(id=flow_run_id).first()
    if run is None:
        raise NotFound("Flow run not found")
    return run


def state_timeline(*, flow_run_id) -> list[dict]:
    """The state history, oldest first, each with how long the run stayed in it (None: still does)."""
    states = list(FlowRunState.objects.filter(flow_run_id=flow_run_id).order_by("timestamp"))
    return [
        {"state": state, "lasted": states[i + 1].timestamp - state.timestamp if i + 1 < len(states) else None}
        for i, state in enumerate(states)
    ]


def parent_flow_run(run: FlowRun) -> FlowRun | None:
    if run.parent_task_run is None or run.parent_task_run.flow_run_id is None:
        return None
    return FlowRun.objects.select_related("flow").filter(id=run.parent_task_run.flow_run_id).first()


def child_flow_runs(*, flow_run_id, limit: int = 100) -> list[FlowRun]:
    # Ids first, unordered, through the indexed parent_task_run column; ordering in the same query
    # makes PostgreSQL walk every flow run by expected start looking for children (most runs have none).
    task_ids = TaskRun.objects.filter(flow_run_id=flow_run_id).values("id")
    child_ids = list(FlowRun.objects.filter(parent_task_run_id__in=task_ids).values_list("id", flat=True)[:limit])
    if not child_ids:
        return []
    return list(run_rows().filter(id__in=child_ids).order_by("expected_start_time", "id"))


def task_runs_with_timeline(
    run: FlowRun, *, children: list[FlowRun] = (), limit: int = TASK_RUN_LIMIT
) -> tuple[list[dict], int]:
    """The run's task runs in start order, each with the offset and width of its Gantt bar (in %)
    and, for a subflow's parent task, the subflow run (from `children`)."""
    child_of = {child.parent_task_run_id: child for child in children}
    queryset = TaskRun.objects.filter(flow_run_id=run.id)
    tasks = list(
        queryset.only(*TASK_ROW_FIELDS)
        .order_by(F("start_time").asc(nulls_last=True), "expected_start_time", "id")[:limit]
    )
    total = len(tasks) if len(tasks) < limit else queryset.count()
    now = timezone.now()
    starts = [task.start_time for task in tasks if task.start_time]
    begin = min([*starts, *([run.start_time] if run.start_time else [])], default=None)
    ends = [task.end_time or now for task in tasks if task.start_time]
    finish = max([*ends, *([run.end_time] if run.end_time else [])], default=None)
    span = (finish - begin).total_seconds() if begin and finish and finish > begin else 0
    rows = []
    for task in tasks:
        bar = None
        if task.start_time and span:
            left = (task.start_time - begin).total_seconds() / span * 100
            width = max(((task.end_time or now) - task.start_time).total_seconds() / span * 100, 0.5)
            bar = {"left": round(left, 2), "width": round(min(width, 100 - left), 2)}
        rows.append({"task": task, "duration": run_duration(task, now), "bar": bar, "subflow": child_of.get(task.id)})
    return rows, total


def run_duration(run, now: datetime | None = None) -> timedelta | None:
    if run.start_time is None:
        return None
    if run.end_time:
        return run.end_time - run.start_time
    if run.state_type in TERMINAL_STATE_TYPES:
        return run.total_run_time
    return (now or timezone.now()) - run.start_time


def lateness(run: FlowRun) -> timedelta | None:
    if not run.expected_start_time:
        return None
    started = run.start_time or (None if run.state_type in TERMINAL_STATE_TYPES else timezone.now())
    if started is None:
        return None
    return max(started - run.expected_start_time, timedelta(0))


def is_active(run: FlowRun) -> bool:
    return run.state_type not in TERMINAL_STATE_TYPES


# Logs ------------------------------------------------------------------------------------------

LOG_LEVELS = {"debug": 10, "info": 20, "warning": 30, "error": 40, "critical": 50}
LOG_PAGE_SIZE = 500


@dataclass
class LogCursor:
    """The last line shown, so the next page (or the live tail) continues exactly after it."""

    timestamp: datetime
    id: UUID

    def token(self) -> str:
        return f"{self.timestamp.isoformat()}|{self.id}"

    @classmethod
    def parse(cls, token: str | None) -> "LogCursor | None":
        if not token:
            return None
        try:
            stamp, _, log_id = token.partition("|")
            return cls(datetime.fromisoformat(stamp), UUID(log_id))
        except ValueError:
            raise InvalidInput("The log position is not valid.") from None


def log_page(
    *, flow_run_id, level: str = "", search: str = "", after: LogCursor | None = None, limit: int = LOG_PAGE_SIZE
) -> tuple[list[Log], bool]:
    """Up to `limit` lines after the cursor (oldest first) and whether more follow."""
    if level and level not in LOG_LEVELS:
        raise InvalidInput(f"Unknown log level: {level}")
    log_filter = filters.LogFilter(
        level=filters.LevelFilter(ge_=LOG_LEVELS[level]) if level else None,
        text=filters.TextSearchFilter(query=search) if search else None,
    )
    queryset = Log.objects.filter(log_filter.to_q(), flow_run_id=flow_run_id)
    if after is not None:
        queryset = queryset.filter(Q(timestamp__gt=after.timestamp) | Q(timestamp=after.timestamp, id__gt=after.id))
    lines = list(queryset.only("id", "name", "level", "message", "timestamp").order_by("timestamp", "id")[: limit + 1])
    for line in lines[:limit]:
        # Formatted here once: template filters per line are the bulk of a long page's render time.
        line.level_label = level_name(line.level)
        line.clock = line.timestamp.astimezone(UTC).strftime("%H:%M:%S.%f")[:12]
    return lines[:limit], len(lines) > limit


def level_name(level: int) -> str:
    for name, number in sorted(LOG_LEVELS.items(), key=lambda item: -item[1]):
        if level >= number:
            return name
    return "debug"


# Actions ---------------------------------------------------------------------------------------


@dataclass
class ActionResult:
    ok: bool
    message: str


def _outcome(result, *, done: str) -> ActionResult:
    state = result.state
    if result.status == "ACCEPT":
        return ActionResult(True, f"{done} The run is now {state.name}.")
    reason = (result.details or {}).get("reason") or "no reason given"
    if result.status == "REJECT" and result.created and state is not None:
        return ActionResult(True, f"{done} The run is now {state.name}: {reason}")
    return ActionResult(False, f"Not possible: {reason}")


def cancel_flow_run(*, flow_run_id) -> ActionResult:
    """Ask for cancellation: Cancelling, which the run's worker or process turns into Cancelled
    (orchestration cancels a run that has no process directly)."""
    run = read_flow_run(flow_run_id=flow_run_id)
    if run.state_type in TERMINAL_STATE_TYPES:
        return ActionResult(False, f"Not possible: the run has already finished ({run.state_name}).")
    if run.state_type == StateType.CANCELLING:
        return ActionResult(False, "Not possible: cancellation was already requested.")
    result = flow_runs.set_flow_run_state(
        flow_run_id=run.id,
        state={"type": "CANCELLING", "name": "Cancelling", "message": "Cancelled from the dashboard.",
               "state_details": {}, "data": None},
    )
    return _outcome(result, done="Cancellation requested.")


def retry_flow_run(*, flow_run_id) -> ActionResult:
    """Schedule a finished run again (AwaitingRetry) for its deployment's worker to pick up.

    Forced only when a deployment exists, as the API's own clients do; without one orchestration
    refuses (nothing would ever start the run) and its reason is shown as is.
    """
    run = read_flow_run(flow_run_id=flow_run_id)
    if run.state_type not in TERMINAL_STATE_TYPES:
        return ActionResult(False, f"Not possible: only finished runs can be retried (this one is {run.state_name}).")
    result = flow_runs.set_flow_run_state(
        flow_run_id=run.id,
        state={"type": "SCHEDULED", "name": "AwaitingRetry", "message": "Retry from the dashboard.",
               "state_details": {}, "data": None},
        force=bool(run.deployment_id),
    )
    return _outcome(result, done="Retry scheduled.")


def delete_flow_run(*, flow_run_id) -> ActionResult:
    run = read_flow_run(flow_run_id=flow_run_id)
    if run.state_type not in TERMINAL_STATE_TYPES:
        return ActionResult(False, "Not possible: cancel the run before deleting it.")
    flow_runs.delete_flow_run(flow_run_id=run.id)
    return ActionResult(True, f"Flow run '{run.name}' deleted.")

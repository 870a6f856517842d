from django.views.decorators.http import require_GET

from orchestrator_site.htmx import render_page
from runs.domain import dashboard, resume_forms
from runs.models import StateType

from .common import dashboard_view
from .paging import Pager

RUN_REFRESH_SECONDS = 3
RESUME_PANEL = "resume-panel"
RESUME_PANEL_TEMPLATE = "runs/partials/resume_panel.html"


@require_GET
@dashboard_view
def flow_run_list(request):
    query = dashboard.parse_run_query(request.GET)
    context = {"section": "runs", "flow_choices": dashboard.flow_choices(), **run_list_context(request, query)}
    return render_page(request, "runs/flow_runs.html", context, fragments={"run-table": "runs/partials/run_table.html"})


def run_list_context(request, query: dashboard.RunQuery, *, fixed_flow: bool = False) -> dict:
    """What the run table and its filter form need; links keep every filter of the current URL."""
    runs, total = dashboard.run_page(query)
    return {
        "runs": runs,
        "query": query,
        "filtered": query.narrows(beyond_flow=fixed_flow),
        "pager": Pager(page=query.page, page_size=dashboard.PAGE_SIZE).with_total(total),
        "state_types": dashboard.STATE_ORDER,
        "sorts": {key: label for key, (label, _) in dashboard.RUN_SORTS.items()},
        "ranges": {key: label for key, (label, _) in dashboard.RANGES.items()},
        "list_url": request.path,
        "base_params": _params_without(request.GET, "page"),
        "sort_params": _params_without(request.GET, "page", "sort"),
    }


def _params_without(params, *names) -> str:
    params = params.copy()
    for name in names:
        params.pop(name, None)
    return params.urlencode()


@require_GET
@dashboard_view
def flow_run_detail(request, flow_run_id):
    run = dashboard.read_flow_run(flow_run_id=flow_run_id)
    if getattr(request, "htmx", False) and request.htmx.target == RESUME_PANEL:
        # The panel's own poll (while the run may still pause): only what the panel shows.
        context = {"run": run, "resume": resume_forms.resume_form(run), "active": dashboard.is_active(run),
                   "refresh_seconds": RUN_REFRESH_SECONDS}
        return render_page(request, RESUME_PANEL_TEMPLATE, context)
    return render_run_page(request, run)


def render_run_page(request, run, *, resume: resume_forms.ResumeForm | None = None, status: int = 200):
    """The run page; `resume` is a Resume form already filled in (with its errors) to show instead
    of a fresh one."""
    children = dashboard.child_flow_runs(flow_run_id=run.id)
    task_rows, task_total = dashboard.task_runs_with_timeline(run, children=children)
    context = {
        "section": "runs",
        "run": run,
        "states": dashboard.state_timeline(flow_run_id=run.id),
        "active": dashboard.is_active(run),
        "duration": dashboard.run_duration(run),
        "lateness": dashboard.lateness(run),
        "parent": dashboard.parent_flow_run(run),
        "children": children,
        "task_rows": task_rows,
        "task_total": task_total,
        "task_limit": dashboard.TASK_RUN_LIMIT,
        "refresh_seconds": RUN_REFRESH_SECONDS,
        "can_cancel": run.state_type not in dashboard.TERMINAL_STATE_TYPES and run.state_type != StateType.CANCELLING,
        "can_retry": run.state_type in dashboard.TERMINAL_STATE_TYPES,
        "log_levels": list(dashboard.LOG_LEVELS),
        "resume": resume or resume_forms.resume_form(run),
    }
    return render_page(
        request, "runs/flow_run.html", context, status=status,
        fragments={
            "run-summary": "runs/partials/run_summary.html", "task-runs": "runs/partials/task_runs.html",
            RESUME_PANEL: RESUME_PANEL_TEMPLATE,
        },
    )


@require_GET
@dashboard_view
def flow_run_logs(request, flow_run_id):
    """A page of log lines after a position; the first request (no position) starts at the top.

    The fragment ends with what comes next: a "load more" button while lines remain, a poller
    that follows new lines while the run is active, or nothing."""
    run = dashboard.read_flow_run(flow_run_id=flow_run_id)
    level = request.GET.get("level") or ""
    search = (request.GET.get("q") or "").strip()[:200]
    after = dashboard.LogCursor.parse(request.GET.get("after"))
    lines, more = dashboard.log_page(flow_run_id=run.id, level=level, search=search, after=after)
    cursor = dashboard.LogCursor(lines[-1].timestamp, lines[-1].id) if lines else after
    params = request.GET.copy()
    params.pop("after", None)
    context = {
        "run": run,
        "lines": lines,
        "more": more,
        "follow": dashboard.is_active(run),
        "next_after": cursor.token() if cursor else "",
        "filter_params": params.urlencode(),
        "continuation": "after" in request.GET,  # a follow-up (even from an empty start) adds to what is shown
        "level": level,
        "search": search,
    }
    return render_page(request, "runs/partials/logs.html", context)

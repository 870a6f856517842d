from django.views.decorators.http import require_GET

from orchestrator_site.htmx import render_page
from runs.domain import dashboard

from .common import dashboard_view
from .flow_runs import run_list_context
from .paging import Pager


@require_GET
@dashboard_view
def flow_list(request):
    search = (request.GET.get("q") or "").strip()[:200]
    pager = Pager.from_request(request, page_size=50)
    flows, total = dashboard.flows_with_stats(search=search, window=pager.window)
    context = {
        "section": "flows", "flows": flows, "search": search, "pager": pager.with_total(total),
        "list_url": request.path, "base_params": _without_page(request.GET),
    }
    return render_page(request, "runs/flows.html", context, fragments={"flow-table": "runs/partials/flow_table.html"})


@require_GET
@dashboard_view
def flow_detail(request, flow_id):
    flow = dashboard.read_flow(flow_id=flow_id)
    params = request.GET.copy()
    params.setlist("flow", [str(flow.id)])
    query = dashboard.parse_run_query(params)
    context = {"section": "flows", "flow": flow, **run_list_context(request, query, fixed_flow=True)}
    return render_page(request, "runs/flow_detail.html", context, fragments={"run-table": "runs/partials/run_table.html"})


def _without_page(params) -> str:
    params = params.copy()
    params.pop("page", None)
    return params.urlencode()

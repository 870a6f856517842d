"""Deployments in the dashboard: the list, one deployment with its schedules, upcoming and past
runs, a run form generated from its parameter schema, pause / resume; resuming a paused run."""

from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from orchestrator_site.htmx import render_page
from runs.domain import deployment_pages, deployments, flow_run_inputs
from runs.domain.errors import Conflict, InvalidInput

from .common import dashboard_view

REFRESH_SECONDS = 5


def _go(request, url: str):
    if getattr(request, "htmx", False):
        response = HttpResponse(status=204)
        response.headers["HX-Redirect"] = url
        return response
    return redirect(url)


@require_GET
@dashboard_view
def deployment_list(request):
    search = request.GET.get("q", "").strip()
    context = {
        "section": "deployments", "rows": deployment_pages.deployments_overview(search=search), "search": search,
        "refresh_seconds": REFRESH_SECONDS,
    }
    return render_page(
        request, "runs/deployments.html", context, fragments={"deployment-table": "runs/partials/deployment_table.html"}
    )


@require_GET
@dashboard_view
def deployment_detail(request, deployment_id):
    context = {"section": "deployments", **deployment_pages.deployment_overview(deployment_id=deployment_id),
               "refresh_seconds": REFRESH_SECONDS}
    return render_page(
        request, "runs/deployment.html", context, fragments={"deployment-runs": "runs/partials/deployment_runs.html"}
    )


@require_POST
@dashboard_view
def pause_deployment(request, deployment_id):
    deployments.set_deployment_paused(deployment_id=deployment_id, paused=True)
    messages.success(request, "Deployment paused: its scheduled runs were removed until it is resumed.")
    return _go(request, reverse("dashboard:deployment", args=[deployment_id]))


@require_POST
@dashboard_view
def resume_deployment(request, deployment_id):
    deployments.set_deployment_paused(deployment_id=deployment_id, paused=False)
    messages.success(request, "Deployment resumed.")
    return _go(request, reverse("dashboard:deployment", args=[deployment_id]))


@require_POST
@dashboard_view
def run_deployment(request, deployment_id):
    try:
        run = deployment_pages.start_run(deployment_id=deployment_id, form=request.POST)
    except (InvalidInput, Conflict) as exc:
        messages.error(request, str(exc))
        return _go(request, reverse("dashboard:deployment", args=[deployment_id]))
    messages.success(request, f"Flow run “{run.name}” scheduled.")
    return _go(request, reverse("dashboard:flow-run", args=[run.id]))


@require_POST
@dashboard_view
def resume_flow_run(request, flow_run_id):
    result = flow_run_inputs.resume_flow_run(flow_run_id=flow_run_id)
    if result.status == "ACCEPT":
        messages.success(request, "Flow run resumed.")
    else:
        messages.error(request, f"The flow run was not resumed: {result.details.get('reason', result.status)}")
    return _go(request, request.POST.get("next") or reverse("dashboard:flow-run", args=[flow_run_id]))

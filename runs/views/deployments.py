"""Deployments in the dashboard: the list, one deployment with its schedules, upcoming and past
runs, a run form generated from its parameter schema, pause / resume; resuming a paused run."""

from urllib.parse import urlencode

from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_POST

from orchestrator_site.htmx import render_page
from runs.domain import dashboard, deployment_pages, deployments, resume_forms
from runs.domain.errors import Conflict, InvalidInput

from . import flow_runs as flow_run_views
from .common import dashboard_view
from .paging import Pager

REFRESH_SECONDS = 5
PAGE_SIZE = 50
RESUME_FORM_MARKER = "resume-form"  # a hidden input of the run page's form (templates/runs/partials/resume_panel.html)


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
    pager = Pager.from_request(request, page_size=PAGE_SIZE)
    context = {
        "section": "deployments", "rows": deployment_pages.deployments_overview(search=search, window=pager.window),
        "search": search, "refresh_seconds": REFRESH_SECONDS,
        "pager": pager.with_total(deployment_pages.count_deployments(search=search)),
        "list_url": request.path, "base_params": urlencode({"q": search}) if search else "",
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
    """Resume a paused run: from a plain Resume button, or from the run page's input form."""
    run = dashboard.read_flow_run(flow_run_id=flow_run_id)
    run_url = reverse("dashboard:flow-run", args=[run.id])
    if resume_forms.input_keyset(run) and RESUME_FORM_MARKER not in request.POST:
        messages.info(request, "This run waits for input: fill in the form on its page to resume it.")
        return _go(request, run_url)
    outcome = resume_forms.submit_resume_form(run, request.POST)
    if outcome.form is not None:  # field errors, or input the run rejected: show them on the form
        return flow_run_views.render_run_page(request, run, resume=outcome.form, status=422)
    if outcome.result.status == "ACCEPT":
        messages.success(request, "Flow run resumed.")
    else:
        messages.error(request, f"The flow run was not resumed: {outcome.result.details.get('reason', outcome.result.status)}")
    return _go(request, _safe_next(request) or run_url)


def _safe_next(request) -> str | None:
    """The `next` page to return to, if it is on this site."""
    target = request.POST.get("next")
    if target and url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
        return target
    return None

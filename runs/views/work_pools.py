"""Work pools in the dashboard: their status, queues, workers with their last heartbeat, Late runs."""

from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from orchestrator_site.htmx import render_page
from runs.domain import work_pools

from .common import dashboard_view

REFRESH_SECONDS = 5


@require_GET
@dashboard_view
def work_pool_list(request):
    context = {"section": "work-pools", "pools": work_pools.work_pools_overview(), "refresh_seconds": REFRESH_SECONDS}
    return render_page(
        request, "runs/work_pools.html", context, fragments={"work-pool-table": "runs/partials/work_pool_table.html"}
    )


@require_GET
@dashboard_view
def work_pool_detail(request, name):
    context = {"section": "work-pools", **work_pools.work_pool_overview(name=name), "refresh_seconds": REFRESH_SECONDS}
    return render_page(
        request, "runs/work_pool.html", context, fragments={"work-pool-detail": "runs/partials/work_pool_detail.html"}
    )


@require_POST
@dashboard_view
def pause_work_pool(request, name):
    return _set_paused(request, name, True)


@require_POST
@dashboard_view
def resume_work_pool(request, name):
    return _set_paused(request, name, False)


def _set_paused(request, name, paused: bool):
    pool = work_pools.update_work_pool(name=name, is_paused=paused)
    messages.success(request, f"Work pool “{pool.name}” {'paused' if paused else 'resumed'}.")
    url = reverse("dashboard:work-pool", args=[pool.name])
    if getattr(request, "htmx", False):
        response = HttpResponse(status=204)
        response.headers["HX-Redirect"] = url
        return response
    return redirect(url)

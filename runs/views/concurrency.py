"""Concurrency limits in the dashboard: slots in use now, who holds them, and a reset."""

from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from orchestrator_site.htmx import render_page
from runs.domain import concurrency

from .common import dashboard_view

REFRESH_SECONDS = 5
HOLDERS_SHOWN = 5


@require_GET
@dashboard_view
def concurrency_limits(request):
    limits = concurrency.read_concurrency_usage()
    for limit in limits:
        # A busy limit has hundreds of holders: the table names the oldest few and counts the rest.
        limit.more_holders = max(len(limit.holders) - HOLDERS_SHOWN, 0)
        limit.holders = limit.holders[:HOLDERS_SHOWN]
    context = {"section": "concurrency", "limits": limits, "refresh_seconds": REFRESH_SECONDS}
    return render_page(
        request, "runs/concurrency.html", context, fragments={"concurrency-table": "runs/partials/concurrency_table.html"}
    )


@require_POST
@dashboard_view
def reset_concurrency_limit(request, limit_id):
    limit = concurrency.reset_concurrency_limit(id_or_name=limit_id)
    messages.success(request, f"Released every slot of “{limit.name}”.")
    url = reverse("dashboard:concurrency")
    if getattr(request, "htmx", False):
        response = HttpResponse(status=204)
        response.headers["HX-Redirect"] = url
        return response
    return redirect(url)

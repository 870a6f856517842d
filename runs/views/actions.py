"""Cancel, retry and delete from the UI. POST only (CSRF-protected); the result is a flash
message on the page the user lands on (HTMX requests are sent there with HX-Redirect)."""

from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.views.decorators.http import require_POST

from runs.domain import dashboard

from .common import dashboard_view


def _respond(request, result: dashboard.ActionResult, url: str):
    (messages.success if result.ok else messages.error)(request, result.message)
    if getattr(request, "htmx", False):
        response = HttpResponse(status=204)
        response.headers["HX-Redirect"] = url
        return response
    return redirect(url)


@require_POST
@dashboard_view
def cancel_flow_run(request, flow_run_id):
    result = dashboard.cancel_flow_run(flow_run_id=flow_run_id)
    return _respond(request, result, reverse("dashboard:flow-run", args=[flow_run_id]))


@require_POST
@dashboard_view
def retry_flow_run(request, flow_run_id):
    result = dashboard.retry_flow_run(flow_run_id=flow_run_id)
    return _respond(request, result, reverse("dashboard:flow-run", args=[flow_run_id]))


@require_POST
@dashboard_view
def delete_flow_run(request, flow_run_id):
    result = dashboard.delete_flow_run(flow_run_id=flow_run_id)
    url = reverse("dashboard:flow-runs") if result.ok else reverse("dashboard:flow-run", args=[flow_run_id])
    return _respond(request, result, url)

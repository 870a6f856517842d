from django.utils import timezone
from django.views.decorators.http import require_GET

from orchestrator_site.htmx import render_page
from runs.domain import dashboard

from .common import dashboard_view

REFRESH_SECONDS = 5


@require_GET
@dashboard_view
def home(request):
    window = dashboard.home_window(request.GET.get("window"))
    length, width = dashboard.WINDOWS[window]
    now = timezone.now()
    active, active_total = dashboard.active_runs()
    counts, bars = dashboard.home_stats(now=now, length=length, width=width)
    context = {
        "section": "home",
        "window": window,
        "windows": list(dashboard.WINDOWS),
        "counts": counts,
        "chart": dashboard.history_chart(bars),
        "failures": dashboard.latest_failures(),
        "active_runs": active,
        "active_total": active_total,
        "refresh_seconds": REFRESH_SECONDS,
        "now": now,
    }
    return render_page(request, "runs/home.html", context, fragments={"home-stats": "runs/partials/home_stats.html"})

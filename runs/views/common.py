"""What every dashboard view shares: domain errors become 404 / 400 pages (or fragments)."""

import functools

from django.shortcuts import render

from runs.domain.errors import InvalidInput, NotFound


def dashboard_view(view):
    """Map the domain's errors: NotFound -> 404, InvalidInput -> 400 with the reason shown."""

    @functools.wraps(view)
    def wrapper(request, *args, **kwargs):
        try:
            return view(request, *args, **kwargs)
        except NotFound as exc:
            template = "runs/partials/error.html" if getattr(request, "htmx", False) else "runs/not_found.html"
            return render(request, template, {"detail": str(exc), "status": 404}, status=404)
        except InvalidInput as exc:
            template = "runs/partials/error.html" if getattr(request, "htmx", False) else "runs/error.html"
            return render(request, template, {"detail": str(exc), "status": 400}, status=400)

    return wrapper

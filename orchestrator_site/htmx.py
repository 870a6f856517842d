"""One decision for every dashboard view: the whole page, or only the fragment HTMX asked for."""

from django.shortcuts import render


def render_page(request, page_template: str, context: dict, *, fragments: dict[str, str] | None = None, status=200):
    """Render `page_template`, or, for an HTMX request whose target is a key of `fragments`,
    only that fragment's template (same context). Boosted and history-restore requests want the
    whole page, so they get it."""
    htmx = getattr(request, "htmx", None)
    if htmx and not htmx.boosted and not htmx.history_restore_request and fragments:
        template = fragments.get(htmx.target or "")
        if template:
            return _render(request, template, context, status)
    return _render(request, page_template, context, status)


def _render(request, template, context, status):
    response = render(request, template, context, status=status)
    # The same URL answers with a page or a fragment: caches must keep them apart.
    response.headers["Vary"] = ", ".join(filter(None, [response.headers.get("Vary"), "HX-Request", "HX-Target"]))
    return response

"""Variables page: list, search, create, edit in place and delete (HTMX fragments, plain forms without JS)."""

from __future__ import annotations

import json

from django.http import HttpResponse
from django.shortcuts import redirect
from django.views.decorators.http import require_GET, require_POST

from orchestrator_site.htmx import render_page
from runs.domain import variables as domain
from runs.domain.errors import AlreadyExists, InvalidInput

from .common import dashboard_view
from .paging import Pager


def parse_value(text: str):
    """A JSON value if the text is JSON, else the text itself, as `prefect variable set` reads it."""
    try:
        return json.loads(text)
    except ValueError:
        return text


def parse_tags(text: str) -> list[str]:
    return [tag.strip() for tag in text.split(",") if tag.strip()]


def value_text(value) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def list_context(request, error: str | None = None, form: dict | None = None) -> dict:
    search = (request.GET.get("q") or "").strip()[:200]
    pager = Pager.from_request(request, page_size=50)
    variable_filter = domain.VariableFilter(name={"like_": search} if search else None)
    variables = domain.read_variables(variables=variable_filter, window=pager.window)
    rows = [{"variable": variable, "value_text": value_text(variable.value)} for variable in variables]
    return {
        "section": "variables", "rows": rows, "search": search, "error": error, "form": form or {},
        "pager": pager.with_total(domain.count_variables(variables=variable_filter)),
        "list_url": request.path, "base_params": "q=" + search if search else "",
    }


@require_GET
@dashboard_view
def variable_list(request):
    return render_page(request, "runs/variables.html", list_context(request),
                       fragments={"variable-table": "runs/partials/variable_table.html"})


@require_POST
@dashboard_view
def create_variable(request):
    form = {name: request.POST.get(name, "") for name in ("name", "value", "tags")}
    try:
        domain.create_variable(name=form["name"].strip(), value=parse_value(form["value"]), tags=parse_tags(form["tags"]))
    except (InvalidInput, AlreadyExists) as error:
        context = list_context(request, error=str(error), form=form)
        return render_page(request, "runs/variables.html", context, status=400,
                           fragments={"variable-table": "runs/partials/variable_table.html"})
    if getattr(request, "htmx", False):
        return render_page(request, "runs/variables.html", list_context(request),
                           fragments={"variable-table": "runs/partials/variable_table.html"})
    return redirect("dashboard:variables")


def row_response(request, variable, *, editing=False, error=None, form=None, status=200):
    context = {"row": {"variable": variable, "value_text": value_text(variable.value)}, "editing": editing,
               "error": error, "form": form}
    return render_page(request, "runs/partials/variable_row.html", context, status=status)


@require_GET
@dashboard_view
def variable_row(request, variable_id):
    variable = domain.read_variable(variable_id=variable_id)
    return row_response(request, variable, editing=request.GET.get("edit") == "1")


@require_POST
@dashboard_view
def update_variable(request, variable_id):
    variable = domain.read_variable(variable_id=variable_id)
    form = {name: request.POST.get(name, "") for name in ("name", "value", "tags")}
    try:
        variable = domain.update_variable_by_id(
            variable_id=variable_id, name=form["name"].strip(), value=parse_value(form["value"]),
            tags=parse_tags(form["tags"]),
        )
    except (InvalidInput, AlreadyExists) as error:
        variable.refresh_from_db()
        return row_response(request, variable, editing=True, error=str(error), form=form, status=400)
    if not getattr(request, "htmx", False):
        return redirect("dashboard:variables")
    return row_response(request, variable)


@require_POST
@dashboard_view
def delete_variable(request, variable_id):
    domain.delete_variable(variable_id=variable_id)
    if not getattr(request, "htmx", False):
        return redirect("dashboard:variables")
    return HttpResponse("")  # the row is swapped for nothing

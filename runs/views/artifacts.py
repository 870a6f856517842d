"""Artifact pages: the latest artifact per key, a key's history, and one artifact rendered by kind.

Markdown is rendered by a deliberately small converter: the text is HTML-escaped first, then a safe
subset (headings, emphasis, code, lists, http(s) links) is turned into tags we write ourselves, so
no markup from the artifact ever reaches the page and no script, event handler or javascript: link
can appear.
"""

from __future__ import annotations

import json
import re
from html import escape

from django.utils.safestring import SafeString, mark_safe
from django.views.decorators.http import require_GET

from orchestrator_site.htmx import render_page
from runs.domain import artifacts as domain

from .common import dashboard_view
from .paging import Pager

SAFE_URL = re.compile(r"^https?://[^\s]+$", re.IGNORECASE)
INLINE_CODE = re.compile(r"`([^`]+)`")
LINK = re.compile(r"!?\[([^\]]*)\]\(((?:[^()\s]|\([^()\s]*\))+)\)")  # one level of parentheses in URLs
BOLD = re.compile(r"\*\*(?!\s)(.+?)(?<!\s)\*\*|(?<!\w)__(?!\s)(.+?)(?<!\s)__(?!\w)")  # not inside identifiers
ITALIC = re.compile(r"(?<![\w*])\*(?!\s)(.+?)(?<!\s)\*(?![\w*])|(?<![\w_])_(?!\s)(.+?)(?<!\s)_(?![\w_])")
HEADING = re.compile(r"^(#{1,6})\s+(.*)$")
BULLET = re.compile(r"^\s*[-*+]\s+(.*)$")
NUMBERED = re.compile(r"^\s*\d+[.)]\s+(.*)$")


def safe_url(url: str) -> str | None:
    """An http(s) URL, or None. The input is already escaped text, so it can hold no quote or bracket."""
    return url if SAFE_URL.match(url) else None


def render_inline(escaped: str) -> str:
    """Inline markdown over text that is already HTML-escaped."""
    codes: list[str] = []

    def keep_code(match):
        codes.append(f"<code>{match.group(1)}</code>")
        return f"\x00{len(codes) - 1}\x00"

    text = INLINE_CODE.sub(keep_code, escaped)

    def link(match):
        label, url = match.group(1), safe_url(match.group(2))
        if url is None:
            return label  # an unsafe target keeps only its text
        return f'<a href="{url}" rel="noopener noreferrer nofollow" target="_blank">{label or url}</a>'

    text = LINK.sub(link, text)
    text = BOLD.sub(lambda m: f"<strong>{m.group(1) or m.group(2)}</strong>", text)
    text = ITALIC.sub(lambda m: f"<em>{m.group(1) or m.group(2)}</em>", text)
    return re.sub(r"\x00(\d+)\x00", lambda m: codes[int(m.group(1))], text)


def render_markdown(source) -> SafeString:
    """Markdown -> HTML for the safe subset; everything else shows as escaped text."""
    lines = escape(str(source or ""), quote=True).splitlines()
    html: list[str] = []
    paragraph: list[str] = []
    list_kind: str | None = None
    in_code = False
    code: list[str] = []

    def close_paragraph():
        if paragraph:
            html.append(f"<p>{render_inline(' '.join(paragraph))}</p>")
            paragraph.clear()

    def close_list():
        nonlocal list_kind
        if list_kind:
            html.append(f"</{list_kind}>")
            list_kind = None

    for line in lines:
        if line.strip().startswith("```"):
            if in_code:
                html.append(f"<pre><code>{chr(10).join(code)}</code></pre>")
                code.clear()
                in_code = False
            else:
                close_paragraph()
                close_list()
                in_code = True
            continue
        if in_code:
            code.append(line)
            continue
        if not line.strip():
            close_paragraph()
            close_list()
            continue
        if heading := HEADING.match(line):
            close_paragraph()
            close_list()
            level = len(heading.group(1))
            html.append(f"<h{level}>{render_inline(heading.group(2))}</h{level}>")
            continue
        item = BULLET.match(line)
        kind = "ul" if item else None
        if not item and (item := NUMBERED.match(line)):
            kind = "ol"
        if item:
            close_paragraph()
            if list_kind != kind:
                close_list()
                html.append(f"<{kind}>")
                list_kind = kind
            html.append(f"<li>{render_inline(item.group(1))}</li>")
            continue
        if re.fullmatch(r"\s*([-*_])(\s*\1){2,}\s*", line):
            close_paragraph()
            close_list()
            html.append("<hr>")
            continue
        close_list()
        paragraph.append(line.strip())
    if in_code:
        html.append(f"<pre><code>{chr(10).join(code)}</code></pre>")
    close_paragraph()
    close_list()
    return mark_safe("\n".join(html))  # noqa: S308 - every piece above was escaped before tags were added


def table_rows(data) -> tuple[list[str], list[list]]:
    """(columns, rows) for the shapes the client sends: rows of objects, columns of values, rows of values."""
    if isinstance(data, str):
        try:
            data = json.loads(data)
        except ValueError:
            return [], []
    if isinstance(data, dict):
        columns = [str(key) for key in data]
        values = [value if isinstance(value, list) else [value] for value in data.values()]
        length = max((len(column) for column in values), default=0)
        return columns, [[column[i] if i < len(column) else "" for column in values] for i in range(length)]
    if isinstance(data, list) and data and all(isinstance(row, dict) for row in data):
        columns: list[str] = []
        for row in data:
            columns.extend(str(key) for key in row if str(key) not in columns)
        return columns, [[row.get(column, "") for column in columns] for row in data]
    if isinstance(data, list):
        return [], [row if isinstance(row, list) else [row] for row in data]
    return [], []


def progress_percent(data) -> float | None:
    try:
        return max(0.0, min(100.0, float(data)))
    except (TypeError, ValueError):
        return None


def rendered(artifact) -> dict:
    """How the artifact page shows this artifact: one kind plus what that kind needs."""
    kind = (artifact.type or "").lower()
    if kind == "markdown":
        return {"kind": "markdown", "html": render_markdown(artifact.data)}
    if kind == "table":
        columns, rows = table_rows(artifact.data)
        return {"kind": "table", "columns": columns, "rows": rows}
    if kind == "progress":
        return {"kind": "progress", "percent": progress_percent(artifact.data)}
    if kind in ("link", "image") and isinstance(artifact.data, str):
        return {"kind": kind, "url": safe_url(artifact.data.strip()), "text": artifact.data}
    return {"kind": "raw", "text": json.dumps(artifact.data, indent=2, default=str)}


@require_GET
@dashboard_view
def artifact_list(request):
    search = (request.GET.get("q") or "").strip()[:200]
    kind = (request.GET.get("type") or "").strip()[:64]
    pager = Pager.from_request(request, page_size=50)
    artifact_filter = domain.ArtifactCollectionFilter(
        key={"like_": search} if search else None, type={"any_": [kind]} if kind else None
    )
    collections = domain.read_latest_artifacts(sort="UPDATED_DESC", window=pager.window, artifacts=artifact_filter)
    total = domain.count_latest_artifacts(artifacts=artifact_filter)
    context = {
        "section": "artifacts", "collections": collections, "search": search, "kind": kind,
        "kinds": domain.KNOWN_TYPES, "pager": pager.with_total(total), "list_url": request.path,
        "base_params": _without_page(request.GET),
    }
    return render_page(request, "runs/artifacts.html", context,
                       fragments={"artifact-table": "runs/partials/artifact_table.html"})


@require_GET
@dashboard_view
def artifact_key(request, key):
    latest = domain.read_latest_artifact(key=key)
    history = domain.read_artifact_history(key=key, window=slice(0, 100))
    context = {"section": "artifacts", "key": key, "artifact": latest, "view": rendered(latest), "history": history}
    return render_page(request, "runs/artifact_key.html", context)


@require_GET
@dashboard_view
def artifact_detail(request, artifact_id):
    artifact = domain.read_artifact(artifact_id=artifact_id)
    context = {"section": "artifacts", "artifact": artifact, "view": rendered(artifact)}
    return render_page(request, "runs/artifact.html", context)


def _without_page(params) -> str:
    params = params.copy()
    params.pop("page", None)
    return params.urlencode()

import csv
import io
from datetime import datetime
from typing import Literal
from urllib.parse import quote
from uuid import UUID

from asgiref.sync import sync_to_async
from django.http import HttpResponse, StreamingHttpResponse
from ninja import Router, Schema
from pydantic import Field

from runs.domain import filters
from runs.domain import flow_runs as flow_runs_domain
from runs.domain import logs as domain

from .common import InputSchema, Paging

router = Router(tags=["Logs"])


class LogCreate(InputSchema):
    name: str = Field(max_length=255)
    level: int = Field(ge=0, le=100)
    message: str
    timestamp: datetime
    flow_run_id: UUID | None = None
    task_run_id: UUID | None = None
    worker_id: UUID | None = None


class LogOut(Schema):
    id: UUID
    created: datetime
    updated: datetime
    name: str
    level: int
    message: str
    timestamp: datetime
    flow_run_id: UUID | None
    task_run_id: UUID | None


class LogFilterBody(Paging):
    logs: filters.LogFilter | None = None
    sort: Literal["TIMESTAMP_ASC", "TIMESTAMP_DESC"] | None = None


@router.post("/logs/", response={201: None})
def create_logs(request, body: list[LogCreate]):
    domain.create_logs(logs=[log.model_dump() for log in body])
    return HttpResponse(b"null", status=201, content_type="application/json")


@router.post("/logs/filter", response=list[LogOut])
def read_logs(request, body: LogFilterBody | None = None):
    body = body or LogFilterBody()
    return domain.read_logs(log_filter=body.logs, sort=body.sort or "TIMESTAMP_ASC", window=body.window())


LOG_DOWNLOAD_PAGE = 1000


@router.get("/flow_runs/{id}/logs/download")
def download_flow_run_logs(request, id: UUID):
    """All of a flow run's log lines as CSV, oldest first, read a page at a time while streaming."""
    run = flow_runs_domain.read_flow_run(flow_run_id=id)
    log_filter = filters.LogFilter(flow_run_id=filters.NullableIdFilter(any_=[id]))

    def csv_text(rows) -> str:
        buffer = io.StringIO()
        csv.writer(buffer).writerows(rows)
        return buffer.getvalue()

    def page_text(offset: int) -> tuple[int, str]:
        page = domain.read_logs(log_filter=log_filter, window=slice(offset, offset + LOG_DOWNLOAD_PAGE))
        rows = [[log.timestamp.isoformat(), log.level, log.flow_run_id, log.task_run_id or "", log.message]
                for log in page]
        return len(page), csv_text(rows)

    async def lines():
        # Async, a page per database call: the ASGI server sends each page as it is read instead of
        # Django first collecting a synchronous iterator whole.
        yield csv_text([["timestamp", "level", "flow_run_id", "task_run_id", "message"]])
        offset = 0
        while True:
            count, text = await sync_to_async(page_text)(offset)
            if not count:
                return
            offset += count
            yield text

    response = StreamingHttpResponse(lines(), content_type="text/csv; charset=utf-8")
    filename = quote(f"{run.name}-logs.csv", safe="")
    response["Content-Disposition"] = f"attachment; filename=\"flow-run-logs.csv\"; filename*=UTF-8''{filename}"
    return response

"""Log lines: written in batches as the client sends them, read back with filters."""

from django.conf import settings

from runs.models import Log

from . import filters
from .errors import InvalidInput

LOG_SORTS = {"TIMESTAMP_ASC": ["timestamp", "id"], "TIMESTAMP_DESC": ["-timestamp", "-id"]}


def create_logs(*, logs: list[dict]) -> int:
    """Store a batch in one insert. Runs are plain references: lines for unknown runs are kept."""
    if len(logs) > settings.LOGS_MAX_BATCH:
        raise InvalidInput(f"Too many logs in one request: at most {settings.LOGS_MAX_BATCH}.")
    Log.objects.bulk_create([Log(**log) for log in logs], batch_size=500)
    return len(logs)


def read_logs(*, log_filter: filters.LogFilter | None = None, sort: str = "TIMESTAMP_ASC", window: slice) -> list[Log]:
    queryset = Log.objects.filter(log_filter.to_q() if log_filter else filters.ALL).order_by(*LOG_SORTS[sort])
    return list(queryset[window])

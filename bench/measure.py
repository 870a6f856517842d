"""Small measuring helpers shared by the benchmarks: percentiles and error bookkeeping."""

from __future__ import annotations

import json
import math
import re
from collections import Counter
from typing import Any

UUID_PATTERN = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def percentile(samples: list[float], fraction: float) -> float | None:
    """Linear-interpolated percentile (fraction in [0, 1]); None when there are no samples."""
    if not samples:
        return None
    ordered = sorted(samples)
    position = (len(ordered) - 1) * fraction
    lower = math.floor(position)
    upper = math.ceil(position)
    if lower == upper:
        return ordered[lower]
    return ordered[lower] + (ordered[upper] - ordered[lower]) * (position - lower)


def rounded(value: float | None, digits: int = 4) -> float | None:
    return None if value is None else round(value, digits)


class ErrorTally:
    """Counts failures and keeps a few distinct examples, so errors are reported rather than hidden.

    For HTTP errors the example names the failing request (method, path, body) and the answer, which is what a
    server developer needs to reproduce the bug.
    """

    def __init__(self, max_examples: int = 5) -> None:
        self.count = 0
        self.by_kind: Counter[str] = Counter()
        self.examples: list[str] = []  # one per kind, the first seen
        self.max_examples = max_examples

    def record(self, error: BaseException | str) -> None:
        self.count += 1
        description = error if isinstance(error, str) else describe_error(error)
        # Group by what failed, not by which run: "HTTP 500 POST /api/flow_runs/{id}/set_state".
        kind = UUID_PATTERN.sub("{id}", description.split(":", 1)[0])
        if kind not in self.by_kind and len(self.examples) < self.max_examples:
            self.examples.append(description)  # one example per kind of failure
        self.by_kind[kind] += 1

    def as_fields(self) -> dict[str, Any]:
        fields: dict[str, Any] = {"errors": self.count}
        if self.count:
            fields["error_kinds"] = dict(self.by_kind.most_common(10))
            fields["error_examples"] = self.examples
        return fields


def describe_error(error: BaseException) -> str:
    """One line naming the failing request and the answer when the error carries them (httpx errors do)."""
    response = getattr(error, "response", None)
    request = _request_of(error)
    if response is not None and request is not None:
        return (
            f"HTTP {response.status_code} {request.method} {request.url.path}: "
            f"request={_clip(request.content)} response={_clip(response.content)}"
        )
    where = f" {request.method} {request.url.path}" if request is not None else ""
    return f"{type(error).__name__}{where}: {str(error)[:300]}"


def _request_of(error: BaseException):
    try:
        return getattr(error, "request", None)
    except RuntimeError:  # httpx raises when an error has no request attached
        return None


def _clip(content: bytes, limit: int = 400) -> str:
    text = " ".join(content.decode("utf-8", "replace").split())
    return text if len(text) <= limit else text[:limit] + "..."


def emit(result: dict[str, Any]) -> None:
    """Each result is one JSON line on stdout; progress goes to stderr."""
    print(json.dumps(result), flush=True)

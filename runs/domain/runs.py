"""What flow runs and task runs share: derived timings and the history chart."""

from datetime import datetime, timedelta

from django.db.models import Q
from django.utils import timezone

from runs.models import StateType

from .errors import InvalidInput

ZERO = timedelta(0)
# The state a run created without one starts in.
PENDING = {"type": "PENDING", "name": "Pending", "message": None, "data": None, "state_details": {}}


def estimated_run_time(run) -> timedelta:
    """Run time so far: the recorded total, plus the current stretch if the run is running now."""
    total = run.total_run_time or ZERO
    if run.state_type == StateType.RUNNING and run.state_timestamp:
        total += max(timezone.now() - run.state_timestamp, ZERO)
    return total


def estimated_start_time_delta(run) -> timedelta:
    """Lateness: how long after its expected start the run started (or, if waiting still, has waited)."""
    if not run.expected_start_time:
        return ZERO
    if run.start_time:
        return max(run.start_time - run.expected_start_time, ZERO)
    if run.state_type in (StateType.SCHEDULED, StateType.PENDING, None):
        return max(timezone.now() - run.expected_start_time, ZERO)
    return ZERO


def run_history(*, model, start: datetime, end: datetime, interval: timedelta, query=None) -> list[dict]:
    """Flow or task runs per interval by state, bucketed on expected start time (the history charts)."""
    if interval < timedelta(seconds=1):
        raise InvalidInput("History interval must not be less than 1 second.")
    if end < start:
        raise InvalidInput("History end must not be before history start.")
    buckets = int((end - start) / interval) + 1
    if buckets > 500:
        raise InvalidInput("History interval too small for the range: at most 500 intervals.")
    runs = (
        model.objects.filter(query or Q())
        .filter(expected_start_time__gte=start, expected_start_time__lt=end)
        .only("expected_start_time", "start_time", "state_type", "state_name", "state_timestamp", "total_run_time")
    )
    counts: dict[tuple[int, str, str], list] = {}
    for run in runs.iterator():
        index = int((run.expected_start_time - start) / interval)
        entry = counts.setdefault((index, run.state_type, run.state_name), [0, timedelta(0), timedelta(0)])
        entry[0] += 1
        entry[1] += estimated_run_time(run)
        entry[2] += estimated_start_time_delta(run)
    history = []
    for index in range(buckets):
        interval_start = start + index * interval
        if interval_start >= end and index:
            break
        states = [
            {
                "state_type": state_type,
                "state_name": state_name,
                "count_runs": count,
                "sum_estimated_run_time": run_time.total_seconds(),
                "sum_estimated_lateness": lateness.total_seconds(),
            }
            for (bucket, state_type, state_name), (count, run_time, lateness) in sorted(counts.items())
            if bucket == index
        ]
        history.append({"interval_start": interval_start, "interval_end": min(interval_start + interval, end), "states": states})
    return history

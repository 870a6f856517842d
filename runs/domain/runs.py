"""What flow runs and task runs share: derived timings and the default policy values."""

from datetime import timedelta

from django.utils import timezone

from runs.models import StateType

ZERO = timedelta(0)


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

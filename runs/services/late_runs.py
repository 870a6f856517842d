"""The late-runs service: a scheduled run that has not started some seconds after its time is
marked Late, so people see it and the dashboard counts it.

Runs under django-q2 (see runs/services/__init__.py). The change goes through orchestration like
any other (EnsureOnlyScheduledFlowsMarkedLate), under the run's row lock: a run a worker picked up
meanwhile, or one another instance already marked, is left alone.
"""

import logging
from datetime import timedelta

from django.utils import timezone

from runs.domain.errors import NotFound
from runs.domain.flow_runs import set_flow_run_state
from runs.models import FlowRun, StateType

logger = logging.getLogger(__name__)

LATE_AFTER = timedelta(seconds=15)
BATCH_SIZE = 400


def mark_late_runs(now=None) -> int:
    """Mark Late the Scheduled runs due more than LATE_AFTER ago; returns how many were marked."""
    now = now or timezone.now()
    due = list(
        FlowRun.objects.filter(
            state_type=StateType.SCHEDULED,
            state_name="Scheduled",
            next_scheduled_start_time__lte=now - LATE_AFTER,
        )
        .order_by("next_scheduled_start_time")
        .values_list("id", "next_scheduled_start_time")[:BATCH_SIZE]
    )
    marked = 0
    for run_id, scheduled_time in due:
        late = {
            "type": StateType.SCHEDULED, "name": "Late", "message": None, "data": None,
            "state_details": {"scheduled_time": scheduled_time.isoformat()},
        }
        try:
            result = set_flow_run_state(flow_run_id=run_id, state=late)
        except NotFound:  # deleted meanwhile
            continue
        marked += result.status == "ACCEPT"
    if marked:
        logger.info("Marked %d flow runs late", marked)
    return marked

"""Crashed-run detection and clean-up of cancellations nobody is left to finish.

The flow engine emits a `prefect.flow-run.heartbeat` event (every 180 s by default) while a run
executes. When those stop, the process running the flow is gone:

- a RUNNING run whose last heartbeat is older than the heartbeat timeout becomes CRASHED;
- a CANCELLING run that has waited longer than the cancelling timeout, and whose heartbeats have
  stopped too (or never came), becomes CANCELLED: no worker is left to stop it.

Runs that never sent a heartbeat are not crashed: older clients and runs with heartbeats switched
off must not be killed for silence they never promised to break. All changes go through
orchestration, so a run that finished meanwhile is left alone (its terminal state wins).
"""

from __future__ import annotations

import logging
from datetime import timedelta

from django.db.models import Max
from django.utils import timezone

from runs.domain import flow_runs
from runs.domain.errors import NotFound
from runs.models import Event, FlowRun

from .foreman import setting_seconds

logger = logging.getLogger(__name__)

HEARTBEAT_EVENT = "prefect.flow-run.heartbeat"
BATCH = 500  # runs examined per query, to keep IN lists within database parameter limits


def heartbeat_timeout() -> timedelta:
    return timedelta(seconds=setting_seconds("PREFECT_SERVER_SERVICES_CRASHED_RUNS_HEARTBEAT_TIMEOUT_SECONDS", 600))


def cancelling_timeout() -> timedelta:
    return timedelta(seconds=setting_seconds("PREFECT_SERVER_SERVICES_CRASHED_RUNS_CANCELLING_TIMEOUT_SECONDS", 300))


def last_heartbeats(run_ids: list) -> dict:
    """The newest heartbeat time per flow run id (runs without any heartbeat are absent)."""
    found = {}
    for start in range(0, len(run_ids), BATCH):
        chunk = {f"prefect.flow-run.{run_id}": run_id for run_id in run_ids[start : start + BATCH]}
        rows = (
            Event.objects.filter(event=HEARTBEAT_EVENT, resource_id__in=list(chunk))
            .values("resource_id").annotate(last=Max("occurred"))
        )
        found.update({chunk[row["resource_id"]]: row["last"] for row in rows})
    return found


def find_crashed_runs(now) -> list:
    """RUNNING runs whose heartbeats stopped more than the timeout ago."""
    cutoff = now - heartbeat_timeout()
    # A run that started after the cutoff cannot have missed a whole timeout yet.
    candidates = list(
        FlowRun.objects.filter(state_type="RUNNING", state_timestamp__lt=cutoff).values_list("id", flat=True)
    )
    beats = last_heartbeats(candidates)
    return [run_id for run_id in candidates if run_id in beats and beats[run_id] < cutoff]


def find_abandoned_cancellations(now) -> list:
    """CANCELLING runs older than the cancelling timeout with no recent heartbeat."""
    heartbeat_cutoff = now - heartbeat_timeout()
    candidates = list(
        FlowRun.objects.filter(state_type="CANCELLING", state_timestamp__lt=now - cancelling_timeout())
        .values_list("id", flat=True)
    )
    beats = last_heartbeats(candidates)
    return [run_id for run_id in candidates if beats.get(run_id) is None or beats[run_id] < heartbeat_cutoff]


def propose(run_id, state: dict) -> bool:
    try:
        result = flow_runs.set_flow_run_state(flow_run_id=run_id, state=state)
    except NotFound:  # deleted meanwhile
        return False
    return result.status == "ACCEPT"


def run_crashed_run_detection() -> dict:
    """One pass; returns how many runs were marked (the task result django-q2 records)."""
    now = timezone.now()
    minutes = heartbeat_timeout().total_seconds() / 60
    crashed = 0
    for run_id in find_crashed_runs(now):
        crashed += propose(run_id, {
            "type": "CRASHED", "name": "Crashed",
            "message": f"Flow run sent no heartbeat for {minutes:g} minutes; its process is presumed gone.",
        })
    cancelled = 0
    for run_id in find_abandoned_cancellations(now):
        cancelled += propose(run_id, {
            "type": "CANCELLED", "name": "Cancelled",
            "message": "Flow run was cancelled; no process was left running it.",
        })
    if crashed or cancelled:
        logger.info("Crashed-run detection: %d crashed, %d cancellations completed", crashed, cancelled)
    return {"crashed": crashed, "cancelled": cancelled}

"""The scheduler service: keeps every active schedule's upcoming runs created ahead of time.

Runs every minute under django-q2 (see runs/services/__init__.py). Each pass is safe next to
another pass, on this instance or another one: a slot's run is created at most once (see
runs.domain.deployments.schedule_runs).
"""

import logging

from runs.domain.deployments import schedule_runs
from runs.models import DeploymentSchedule

logger = logging.getLogger(__name__)

# Deployments handled per database round; keeps a pass's transactions short on big installs.
BATCH_SIZE = 100


def schedule_upcoming_runs() -> int:
    """One scheduler pass over every unpaused deployment with an active schedule."""
    deployment_ids = list(
        DeploymentSchedule.objects.filter(active=True, deployment__paused=False)
        .values_list("deployment_id", flat=True)
        .distinct()
    )
    created = 0
    for start in range(0, len(deployment_ids), BATCH_SIZE):
        created += schedule_runs(deployment_ids=deployment_ids[start : start + BATCH_SIZE])
    if created:
        logger.info("Scheduled %d flow runs", created)
    return created

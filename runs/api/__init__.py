"""The JSON API under /api/: one router per resource, assembled here."""

from . import admin, events, flow_runs, flows, logs, task_runs
from .base import api

for module in (admin, flows, flow_runs, task_runs, logs, events):
    api.add_router("", module.router)

from . import artifacts, block_capabilities, block_documents, block_schemas, block_types, variables  # noqa: E402

for module in (block_types, block_schemas, block_documents, block_capabilities, variables, artifacts):
    api.add_router("", module.router)

from . import work_pools, work_queues  # noqa: E402  (work pools, queues, workers)

for module in (work_pools, work_queues):
    api.add_router("", module.router)

from . import task_workers  # noqa: E402  (background task workers)

api.add_router("", task_workers.router)

from . import concurrency_limits, concurrency_limits_v2  # noqa: E402  (tag and global concurrency limits)

for module in (concurrency_limits, concurrency_limits_v2):
    api.add_router("", module.router)

from . import automations, deployments, flow_run_inputs  # noqa: E402  (deployments, schedules, resuming runs)

for module in (deployments, automations, flow_run_inputs):
    api.add_router("", module.router)

from . import saved_searches, ui  # noqa: E402  (the UI's saved searches and dashboard aggregates)

for module in (saved_searches, ui):
    api.add_router("", module.router)

from notifications import api as notifications_api  # noqa: E402  (notification policies and deliveries)

api.add_router("", notifications_api.router)

__all__ = ["api"]

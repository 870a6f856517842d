"""The JSON API under /api/: one router per resource, assembled here."""

from . import admin, events, flow_runs, flows, logs, task_runs
from .base import api

for module in (admin, flows, flow_runs, task_runs, logs, events):
    api.add_router("", module.router)

__all__ = ["api"]

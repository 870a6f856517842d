from .base import TERMINAL_STATE_TYPES, StateType
from .events import Event, EventResource
from .flow_runs import FlowRun, FlowRunState
from .flows import Flow
from .logs import Log
from .task_runs import TaskRun, TaskRunState

__all__ = [
    "TERMINAL_STATE_TYPES",
    "Event",
    "EventResource",
    "Flow",
    "FlowRun",
    "FlowRunState",
    "Log",
    "StateType",
    "TaskRun",
    "TaskRunState",
]

from . import lookups  # noqa: E402,F401  (registers JSONField lookups)

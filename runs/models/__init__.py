from .base import TERMINAL_STATE_TYPES, StateType
from .deployments import Deployment, DeploymentSchedule
from .events import Event, EventResource
from .flow_runs import FlowRun, FlowRunState
from .flows import Flow
from .logs import Log
from .task_runs import TaskRun, TaskRunState
from .work_pools import ReadyStatus, WorkPool, WorkQueue, Worker

__all__ = [
    "TERMINAL_STATE_TYPES",
    "Deployment",
    "DeploymentSchedule",
    "ReadyStatus",
    "WorkPool",
    "WorkQueue",
    "Worker",
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

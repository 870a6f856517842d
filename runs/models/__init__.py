from .artifacts import Artifact, ArtifactCollection
from .automations import Automation, AutomationBucket, AutomationRelatedResource
from .base import TERMINAL_STATE_TYPES, StateType
from .blocks import BlockDocument, BlockDocumentReference, BlockSchema, BlockType
from .concurrency import ConcurrencyLease, ConcurrencyLeaseLimit, ConcurrencyLimit
from .deployments import Deployment, DeploymentSchedule
from .flow_run_inputs import FlowRunInput
from .events import Event, EventResource
from .flow_runs import FlowRun, FlowRunState
from .flows import Flow
from .logs import Log
from .saved_searches import SavedSearch
from .task_runs import TaskRun, TaskRunState
from .task_workers import TaskRunDelivery, TaskWorker
from .variables import Variable
from .work_pools import ReadyStatus, WorkPool, WorkQueue, Worker

__all__ = [
    "Artifact",
    "ArtifactCollection",
    "Automation",
    "AutomationBucket",
    "AutomationRelatedResource",
    "BlockDocument",
    "BlockDocumentReference",
    "BlockSchema",
    "BlockType",
    "Variable",
    "TERMINAL_STATE_TYPES",
    "ConcurrencyLease",
    "ConcurrencyLeaseLimit",
    "ConcurrencyLimit",
    "Deployment",
    "FlowRunInput",
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
    "SavedSearch",
    "StateType",
    "TaskRun",
    "TaskRunState",
    "TaskRunDelivery",
    "TaskWorker",
]

from . import lookups  # noqa: E402,F401  (registers JSONField lookups)

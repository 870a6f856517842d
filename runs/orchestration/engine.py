"""Entry points of orchestration. (Interface fixed; implementation owned by the orchestration work.)"""

from dataclasses import dataclass, field


@dataclass
class OrchestrationResult:
    status: str  # "ACCEPT" | "REJECT" | "WAIT" | "ABORT"
    details: dict = field(default_factory=lambda: {"type": "accept_details"})
    state: object | None = None  # the FlowRunState / TaskRunState to return to the client
    created: bool = False  # a new state row was written (the API answers 201, else 200)


def orchestrate_flow_run(*, flow_run_id, proposed: dict, force: bool = False, client_version: str | None = None) -> OrchestrationResult:
    raise NotImplementedError


def orchestrate_task_run(*, task_run_id, proposed: dict, force: bool = False, client_version: str | None = None) -> OrchestrationResult:
    raise NotImplementedError

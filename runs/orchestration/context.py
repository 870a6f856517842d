"""The transition being orchestrated, the decisions rules can take on it, and the result.

A proposal is a plain dict: {"type", "name", "message", "state_details", "data", "timestamp", "id"}.
Rules read `initial_state` (the run's current state row, or None) and the proposal, and may replace
or withdraw the proposal through reject / wait / abort. Nothing here touches the database except the
lazy read of a task run's flow run.
"""

import uuid
from dataclasses import dataclass, field
from datetime import datetime

from django.utils import timezone

from runs.domain.errors import InvalidInput
from runs.models import TERMINAL_STATE_TYPES, FlowRun, StateType

from .datetimes import format_instant, parse_instant

ACCEPT = "ACCEPT"
REJECT = "REJECT"
WAIT = "WAIT"
ABORT = "ABORT"

# State-detail fields holding datetimes; stored as ISO strings, read back as datetimes by rules.
DATETIME_DETAILS = ("scheduled_time", "cache_expiration", "pause_timeout")


@dataclass
class OrchestrationResult:
    status: str  # "ACCEPT" | "REJECT" | "WAIT" | "ABORT"
    details: dict = field(default_factory=lambda: {"type": "accept_details"})
    state: object | None = None  # the FlowRunState / TaskRunState to return to the client
    created: bool = False  # a new state row was written (the API answers 201, else 200)


def default_state_name(state_type: str) -> str:
    return " ".join(part.capitalize() for part in state_type.split("_"))


def is_final(state_type) -> bool:
    return state_type in TERMINAL_STATE_TYPES


def _json_safe(value):
    if isinstance(value, datetime):
        return format_instant(value)
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, (set, frozenset, tuple)):
        return [_json_safe(item) for item in value]
    return value


def normalize_proposal(proposed: dict, *, now: datetime | None = None) -> dict:
    """Validate a proposed state and fill what the server owns (name, timestamp, scheduled time).
    Raises InvalidInput for anything the client could not have meant."""
    if not isinstance(proposed, dict):
        raise InvalidInput("The proposed state must be an object.")
    state_type = proposed.get("type")
    if state_type not in StateType.values:
        raise InvalidInput(f"Invalid state type {state_type!r}; expected one of {', '.join(StateType.values)}.")
    name = proposed.get("name")
    if name is not None and not isinstance(name, str):
        raise InvalidInput("State name must be a string.")
    message = proposed.get("message")
    if message is not None and not isinstance(message, str):
        raise InvalidInput("State message must be a string.")
    details = proposed.get("state_details") or {}
    if not isinstance(details, dict):
        raise InvalidInput("state_details must be an object.")
    details = {key: _json_safe(value) for key, value in details.items()}
    for key in DATETIME_DETAILS:
        if key in details:
            try:
                details[key] = format_instant(parse_instant(details[key]))
            except ValueError as exc:
                raise InvalidInput(f"state_details.{key}: {exc}") from None
    try:
        timestamp = parse_instant(proposed.get("timestamp")) or now or timezone.now()
    except ValueError as exc:
        raise InvalidInput(f"timestamp: {exc}") from None
    state_id = proposed.get("id")
    if state_id is not None:
        try:
            state_id = uuid.UUID(str(state_id))
        except ValueError:
            raise InvalidInput(f"State id {state_id!r} is not a UUID.") from None
    if state_type == StateType.SCHEDULED and not details.get("scheduled_time"):
        # A Scheduled state without a time means "now", as the client's own models assume.
        details["scheduled_time"] = format_instant(timestamp)
    return {
        "type": state_type,
        "name": name or default_state_name(state_type),
        "message": message,
        "state_details": details,
        "data": proposed.get("data"),
        "timestamp": timestamp,
        "id": state_id,
    }


def new_state(state_type: str, *, name: str | None = None, message: str | None = None, data=None, **details) -> dict:
    """A state the server proposes in place of the client's (AwaitingRetry, Cancelled, ...)."""
    return normalize_proposal(
        {"type": state_type, "name": name, "message": message, "data": data, "state_details": details}
    )


@dataclass(eq=False)
class TransitionContext:
    run: object  # FlowRun or TaskRun, locked for the duration of the transaction
    initial_state: object | None  # the run's current FlowRunState / TaskRunState
    proposed: dict | None  # normalized proposal; None once a rule withdraws it
    force: bool = False
    client_version: str | None = None
    status: str = ACCEPT
    details: dict = field(default_factory=lambda: {"type": "accept_details"})
    validated_state: object | None = None
    created: bool = False
    decided_by: object | None = None  # the rule that rejected, delayed or aborted
    active_rule: object | None = None
    _flow_run_cache: dict = field(default_factory=dict)

    def __post_init__(self):
        # The transition the client asked for; rules are chosen for this pair.
        self.intended = (self.initial_type, self.proposed_type)

    # -- reading ---------------------------------------------------------------------------------

    @property
    def is_flow_run(self) -> bool:
        return isinstance(self.run, FlowRun)

    @property
    def initial_type(self):
        return self.initial_state.type if self.initial_state is not None else None

    @property
    def initial_name(self):
        return self.initial_state.name if self.initial_state is not None else None

    @property
    def initial_details(self) -> dict:
        return (self.initial_state.state_details or {}) if self.initial_state is not None else {}

    @property
    def proposed_type(self):
        return self.proposed["type"] if self.proposed is not None else None

    @property
    def proposed_details(self) -> dict:
        return self.proposed["state_details"]

    @property
    def policy(self) -> dict:
        return dict(self.run.empirical_policy or {})

    def update_policy(self, **changes):
        # Assign a new dict so a rule that saved the old one can restore it on cleanup.
        self.run.empirical_policy = {**self.policy, **changes}

    def flow_run(self):
        """The flow run a task run belongs to (with its current state), read once."""
        if "flow_run" not in self._flow_run_cache:
            flow_run_id = getattr(self.run, "flow_run_id", None)
            self._flow_run_cache["flow_run"] = (
                FlowRun.objects.select_related("state").filter(pk=flow_run_id).first() if flow_run_id else None
            )
        return self._flow_run_cache["flow_run"]

    # -- deciding --------------------------------------------------------------------------------

    def _decide(self, status: str, details: dict, proposed: dict | None):
        if self.validated_state is not None:
            raise RuntimeError("The transition has already been written.")
        self.status = status
        self.details = details
        self.proposed = proposed
        self.decided_by = self.active_rule

    def reject(self, state: dict | None, reason: str):
        """Refuse the proposal; write `state` instead, or keep the current state when None."""
        if state is None and self.initial_state is None:
            raise RuntimeError("A run without a state cannot keep its current state; reject into a new one.")
        self._decide(REJECT, {"type": "reject_details", "reason": reason}, state)

    def reject_current(self, reason: str):
        self.reject(None, reason)

    def wait(self, delay_seconds: int, reason: str):
        """Write nothing; the client sleeps `delay_seconds` and proposes again."""
        self._decide(WAIT, {"type": "wait_details", "delay_seconds": int(delay_seconds), "reason": reason}, None)

    def abort(self, reason: str):
        """Write nothing; the client gives up on this run."""
        self._decide(ABORT, {"type": "abort_details", "reason": reason}, None)

    def rename(self, name: str):
        """Change only the proposal's name; the type, and so every rule's view of it, stays."""
        if self.proposed is not None:
            self.proposed["name"] = name

    def result(self) -> OrchestrationResult:
        return OrchestrationResult(
            status=self.status, details=self.details, state=self.validated_state, created=self.created
        )

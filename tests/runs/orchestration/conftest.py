"""Fixtures for orchestration tests: runs in a chosen state, and transitions to feed rules."""

import itertools

import pytest

from runs.models import Flow, FlowRun, TaskRun
from runs.orchestration.context import TransitionContext

from .helpers import proposal, put_in_state

_names = itertools.count()


@pytest.fixture(autouse=True)
def recorded_events(monkeypatch):
    """Events the engine publishes, collected instead of stored (storage is the events work's)."""
    events = []
    monkeypatch.setattr("runs.orchestration.engine.publish_event", events.append)
    return events


@pytest.fixture
def flow(db):
    return Flow.objects.create(name=f"flow-{next(_names)}", tags=["flow-tag"])


@pytest.fixture
def make_flow_run(flow):
    def make(state=None, *, details=None, data=None, timestamp=None, message=None, **fields):
        fields.setdefault("name", f"run-{next(_names)}")
        run = FlowRun.objects.create(flow=flow, **fields)
        return put_in_state(run, state, details=details, data=data, timestamp=timestamp, message=message)

    return make


@pytest.fixture
def make_task_run(make_flow_run):
    def make(state=None, *, flow_run=None, flow_run_state="RUNNING", details=None, data=None, timestamp=None, **fields):
        if flow_run is None and flow_run_state is not None:
            flow_run = make_flow_run(flow_run_state)
        fields.setdefault("name", f"task-{next(_names)}")
        fields.setdefault("task_key", "task-key")
        fields.setdefault("dynamic_key", str(next(_names)))
        run = TaskRun.objects.create(flow_run=flow_run, **fields)
        return put_in_state(run, state, details=details, data=data, timestamp=timestamp)

    return make


@pytest.fixture
def make_transition(make_flow_run, make_task_run):
    """make_transition(initial, proposed, **run_fields) -> a TransitionContext on a saved run.

    `initial` / `proposed` are "TYPE" or ("TYPE", "Name"); `initial_details`, `initial_data`,
    `proposed_details`, `proposed_data` fill the states; `kind="task"` makes a task run.
    """

    def make(
        initial,
        proposed,
        *,
        kind="flow",
        initial_details=None,
        initial_data=None,
        initial_timestamp=None,
        proposed_details=None,
        proposed_data=None,
        proposed_message=None,
        force=False,
        **run_fields,
    ):
        maker = make_flow_run if kind == "flow" else make_task_run
        run = maker(initial, details=initial_details, data=initial_data, timestamp=initial_timestamp, **run_fields)
        return TransitionContext(
            run=run,
            initial_state=run.state,
            proposed=proposal(proposed, details=proposed_details, data=proposed_data, message=proposed_message),
            force=force,
        )

    return make

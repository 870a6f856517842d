"""Records for dashboard tests, made through the domain functions the API uses (so runs carry
real state histories written by orchestration)."""

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from runs.domain import flow_runs, flows, logs, task_runs


def state(state_type: str, name: str | None = None, message: str | None = None) -> dict:
    return {"type": state_type, "name": name or state_type.title(), "message": message, "state_details": {}, "data": None}


class Records:
    def flow(self, name="etl", **fields):
        return flows.create_flow(name=name, **fields)[0]

    def flow_run(self, flow=None, *, states=("RUNNING",), **fields):
        """A run of `flow` taken through `states` (each forced, as an engine would report them)."""
        flow = flow or self.flow()
        fields.setdefault("expected_start_time", timezone.now() - timedelta(minutes=5))
        run, _ = flow_runs.create_flow_run(flow_id=flow.id, **fields)
        for state_type in states:
            flow_runs.set_flow_run_state(flow_run_id=run.id, state=state(state_type), force=True)
        return flow_runs.read_flow_run(flow_run_id=run.id)

    def task_run(self, flow_run, name="extract", *, states=("RUNNING", "COMPLETED"), **fields):
        run, _ = task_runs.create_task_run(
            flow_run_id=flow_run.id, task_key=name, dynamic_key=fields.pop("dynamic_key", "0"), name=name, **fields
        )
        for state_type in states:
            task_runs.set_task_run_state(task_run_id=run.id, state=state(state_type), force=True)
        return task_runs.read_task_run(task_run_id=run.id)

    def logs(self, flow_run, messages, *, level=20, start=None):
        start = start or timezone.now()
        logs.create_logs(logs=[
            {"name": "prefect.flow_runs", "level": level, "message": message, "flow_run_id": flow_run.id,
             "timestamp": start + timedelta(milliseconds=index)}
            for index, message in enumerate(messages)
        ])


@pytest.fixture
def records(db):
    return Records()


@pytest.fixture
def client(db):
    return Client()


@pytest.fixture
def htmx_client(db):
    """A client whose requests look like HTMX swaps aimed at `target`."""

    class HtmxClient(Client):
        def fragment(self, path, target, data=None):
            return self.get(path, data, HTTP_HX_REQUEST="true", HTTP_HX_TARGET=target)

    return HtmxClient()


@pytest.fixture
def csrf_client(db):
    """A client that enforces CSRF, as the browser does."""
    return Client(enforce_csrf_checks=True)

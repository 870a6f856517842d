"""The prefect.flow-run.<State> event: the shape runners and workers subscribe to."""

import uuid
from datetime import timedelta

import pytest
from django.utils import timezone

from runs.domain.events import publish_event
from runs.models import Event, EventResource
from runs.orchestration.engine import orchestrate_flow_run
from runs.orchestration.instrumentation import shorten

pytestmark = pytest.mark.django_db


def related_by_role(event):
    return {
        resource["prefect.resource.role"]: resource
        for resource in event["related"]
        if resource["prefect.resource.role"] != "tag"
    }


class TestFlowRunStateEvent:
    def test_the_event_describes_the_run_and_the_transition(self, flow, make_flow_run, recorded_events):
        run = make_flow_run("RUNNING", run_count=1, tags=["nightly"], message="working")
        initial = run.state
        result = orchestrate_flow_run(
            flow_run_id=run.id, proposed={"type": "CANCELLING", "name": "Cancelling", "message": "user asked"}
        )
        (event,) = recorded_events
        assert event["event"] == "prefect.flow-run.Cancelling"
        assert event["id"] == str(result.state.id)
        assert event["follows"] == str(initial.id)
        assert event["occurred"].endswith("Z")
        assert event["resource"] == {
            "prefect.resource.id": f"prefect.flow-run.{run.id}",
            "prefect.resource.name": run.name,
            "prefect.run-count": "1",
            "prefect.state-message": "user asked",
            "prefect.state-name": "Cancelling",
            "prefect.state-timestamp": event["occurred"],
            "prefect.state-type": "CANCELLING",
        }
        assert event["payload"] == {
            "intended": {"from": "RUNNING", "to": "CANCELLING"},
            "initial_state": {"type": "RUNNING", "name": "Running", "message": "working"},
            "validated_state": {"type": "CANCELLING", "name": "Cancelling", "message": "user asked"},
        }
        assert related_by_role(event)["flow"] == {
            "prefect.resource.id": f"prefect.flow.{flow.id}",
            "prefect.resource.role": "flow",
            "prefect.resource.name": flow.name,
        }
        tags = [r["prefect.resource.id"] for r in event["related"] if r["prefect.resource.role"] == "tag"]
        assert tags == ["prefect.tag.flow-tag", "prefect.tag.nightly"]

    def test_the_first_state_has_no_initial_state_and_follows_nothing(self, make_flow_run, recorded_events):
        run = make_flow_run(None)
        orchestrate_flow_run(flow_run_id=run.id, proposed={"type": "PENDING"}, force=True)
        (event,) = recorded_events
        assert event["payload"]["initial_state"] is None
        assert event["payload"]["intended"] == {"from": None, "to": "PENDING"}
        assert event["follows"] is None
        assert event["resource"]["prefect.state-message"] == ""

    def test_a_long_gap_is_not_linked_with_follows(self, make_flow_run, recorded_events):
        run = make_flow_run("SCHEDULED", timestamp=timezone.now() - timedelta(hours=1))
        orchestrate_flow_run(flow_run_id=run.id, proposed={"type": "PENDING"})
        assert recorded_events[0]["follows"] is None

    def test_deployment_queue_pool_and_parent_task_run_are_related(self, make_flow_run, make_task_run, recorded_events):
        deployment_id, queue_id, pool_id = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
        parent_task = make_task_run("PENDING", tags=["from-task"])
        run = make_flow_run(
            "PENDING",
            deployment_id=deployment_id,
            work_queue_id=queue_id,
            work_queue_name="default",
            labels={"prefect.work-pool.id": str(pool_id), "prefect.work-pool.name": "pool"},
            parent_task_run=parent_task,
        )
        orchestrate_flow_run(flow_run_id=run.id, proposed={"type": "RUNNING"})
        related = related_by_role(recorded_events[0])
        assert related["deployment"]["prefect.resource.id"] == f"prefect.deployment.{deployment_id}"
        assert related["work-queue"] == {
            "prefect.resource.id": f"prefect.work-queue.{queue_id}",
            "prefect.resource.role": "work-queue",
            "prefect.resource.name": "default",
        }
        assert related["work-pool"]["prefect.resource.id"] == f"prefect.work-pool.{pool_id}"
        assert related["task-run"]["prefect.resource.id"] == f"prefect.task-run.{parent_task.id}"
        assert "prefect.tag.from-task" in [r["prefect.resource.id"] for r in recorded_events[0]["related"]]

    def test_a_deployment_creator_is_related(self, make_flow_run, recorded_events):
        deployment_id = uuid.uuid4()
        run = make_flow_run(
            "PENDING", created_by={"id": str(deployment_id), "type": "DEPLOYMENT", "display_value": "d"}
        )
        orchestrate_flow_run(flow_run_id=run.id, proposed={"type": "RUNNING"})
        assert related_by_role(recorded_events[0])["creator"] == {
            "prefect.resource.id": f"prefect.deployment.{deployment_id}",
            "prefect.resource.role": "creator",
            "prefect.resource.name": "d",
        }

    def test_a_paused_state_says_whether_it_reschedules(self, make_flow_run, recorded_events):
        run = make_flow_run("RUNNING")
        orchestrate_flow_run(
            flow_run_id=run.id, proposed={"type": "PAUSED", "name": "Paused", "state_details": {"pause_key": "a"}}
        )
        assert recorded_events[0]["payload"]["validated_state"]["pause_reschedule"] == "false"

    def test_a_run_with_very_many_tags_keeps_the_event_within_the_related_limit(self, make_flow_run, recorded_events):
        run = make_flow_run("PENDING", tags=[f"t{n:03}" for n in range(300)], deployment_id=uuid.uuid4())
        orchestrate_flow_run(flow_run_id=run.id, proposed={"type": "RUNNING"})
        related = recorded_events[0]["related"]
        assert len(related) == 100
        assert {"flow", "deployment"} <= set(related_by_role(recorded_events[0]))


class TestStoredEvent:
    """With the real event store, not the collector: the event passes its validation and is kept."""

    def test_the_state_change_event_is_stored_with_its_resources(self, make_flow_run, monkeypatch):
        monkeypatch.setattr("runs.orchestration.engine.publish_event", publish_event)
        run = make_flow_run("PENDING", tags=["x"])
        result = orchestrate_flow_run(flow_run_id=run.id, proposed={"type": "RUNNING"})
        stored = Event.objects.get(pk=result.state.id)
        assert (stored.event, stored.resource_id) == ("prefect.flow-run.Running", f"prefect.flow-run.{run.id}")
        assert stored.occurred == result.state.timestamp
        assert stored.follows == run.state.id
        assert set(EventResource.objects.filter(event=stored).values_list("role", flat=True)) == {"", "flow", "tag"}


class TestShorten:
    def test_short_messages_are_kept(self):
        assert shorten("abc", 10) == "abc"

    def test_long_messages_keep_both_ends(self):
        shortened = shorten("a" * 50 + "b" * 50, 20)
        assert shortened.startswith("a" * 10) and shortened.endswith("b" * 10)
        assert "80 additional characters" in shortened

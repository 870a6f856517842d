"""The automations engine without a server: matching, bucketing, firing, composite triggers,
the actions job and the cost on the events path."""

import uuid
from datetime import datetime, timedelta, timezone

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from runs.automations import actions, jobs, matching, triggers
from runs.domain.automations import AutomationCreateSpec, EventTrigger, create_automation
from runs.domain.events import publish_event, record_events
from runs.models import Automation, AutomationBucket, Event

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=timezone.utc)


def event(name="prefect.flow-run.Failed", *, resource=None, related=None, at=T0, tags=()):
    run_id = uuid.uuid4()
    return {
        "id": str(uuid.uuid4()), "occurred": at.isoformat(), "event": name,
        "resource": resource or {"prefect.resource.id": f"prefect.flow-run.{run_id}"},
        "related": related if related is not None else [
            {"prefect.resource.id": f"prefect.tag.{tag}", "prefect.resource.role": "tag"} for tag in tags
        ],
        "payload": {},
    }


def automation(trigger: dict, actions_=None, **fields):
    spec = AutomationCreateSpec.model_validate(
        {"name": "a", "trigger": trigger, "actions": actions_ or [{"type": "do-nothing"}], **fields}
    )
    return create_automation(spec=spec)


@pytest.fixture
def queued(monkeypatch, django_capture_on_commit_callbacks):
    """Action jobs the engine queues (run on commit, captured instead of sent to django-q2)."""
    jobs_ = []
    monkeypatch.setattr(triggers, "queue_actions", jobs_.append)
    monkeypatch.setattr(CommitCallbacks, "capture", staticmethod(django_capture_on_commit_callbacks))
    return jobs_


class CommitCallbacks:
    capture = None


def evaluate(*events):
    with CommitCallbacks.capture(execute=True):
        triggers.evaluate_events(events)


def evaluate_proactive(now):
    with CommitCallbacks.capture(execute=True):
        return triggers.evaluate_proactive_triggers(now=now)


def fired(kind="prefect.automation.triggered"):
    return list(Event.objects.filter(event=kind).order_by("occurred"))


class TestMatching:
    def trigger(self, **fields):
        return EventTrigger.model_validate({"posture": "Reactive", **fields})

    def test_expect_match_and_match_related(self):
        trigger = self.trigger(expect=["prefect.flow-run.Fail*"], match={"prefect.resource.id": "prefect.flow-run.*"},
                               match_related={"prefect.resource.role": "tag", "prefect.resource.id": "prefect.tag.nightly"})
        assert matching.covers(trigger, event(tags=["nightly"]))
        assert not matching.covers(trigger, event(tags=["daily"]))
        assert not matching.covers(trigger, event("prefect.flow-run.Completed", tags=["nightly"]))
        assert not matching.covers(trigger, event(resource={"prefect.resource.id": "prefect.task-run.1"}, tags=["nightly"]))

    def test_negation_and_no_expect(self):
        trigger = self.trigger(match={"prefect.resource.id": "!prefect.flow-run.*"})
        assert matching.covers(trigger, event("anything", resource={"prefect.resource.id": "x.1"}))
        assert not matching.covers(trigger, event("anything"))

    def test_every_match_related_spec_must_match(self):
        trigger = self.trigger(match_related=[{"prefect.resource.id": "prefect.tag.a"}, {"prefect.resource.id": "prefect.tag.b"}])
        assert matching.covers(trigger, event(tags=["a", "b"]))
        assert not matching.covers(trigger, event(tags=["a"]))

    def test_bucketing_key_reads_resource_and_related_labels(self):
        trigger = self.trigger(for_each=["related:tag:prefect.resource.id", "prefect.resource.id"])
        e = event(resource={"prefect.resource.id": "r.1"}, tags=["x", "y"])
        assert matching.bucketing_key(trigger, e) == ["r.1", "prefect.tag.x"]
        assert matching.bucketing_key(self.trigger(for_each=["missing"]), e) == [""]


class TestReactive:
    def test_within_zero_fires_on_each_matching_event_and_queues_the_actions(self, queued):
        a = automation({"posture": "Reactive", "expect": ["prefect.flow-run.Failed"]})
        evaluate(event(), event("prefect.flow-run.Completed"), event(at=T0 + timedelta(seconds=1)))
        assert len(fired()) == 2
        triggered = fired()[0]
        assert triggered.resource == {"prefect.resource.id": f"prefect.automation.{a.id}", "prefect.resource.name": "a",
                                      "prefect.posture": "Reactive"}
        assert triggered.related[0]["prefect.resource.role"] == "triggering-event"
        assert triggered.payload["triggering_event"]["event"] == "prefect.flow-run.Failed"
        assert [job["actions"][0]["action"]["type"] for job in queued] == ["do-nothing", "do-nothing"]
        assert queued[0]["automation_triggered_event_id"] == str(triggered.id)

    def test_threshold_counts_per_for_each_bucket_within_the_window(self, queued):
        automation({"posture": "Reactive", "expect": ["prefect.flow-run.Failed"], "threshold": 2, "within": 60,
                    "for_each": ["prefect.resource.id"]})
        one = {"prefect.resource.id": "prefect.flow-run.one"}
        two = {"prefect.resource.id": "prefect.flow-run.two"}
        evaluate(event(resource=one), event(resource=two, at=T0 + timedelta(seconds=1)))
        assert fired() == []
        evaluate(event(resource=one, at=T0 + timedelta(seconds=2)))
        assert len(fired()) == 1
        assert fired()[0].payload["triggering_labels"] == {"prefect.resource.id": "prefect.flow-run.one"}
        # The window it fired in is spent: a third event inside it does not fire again.
        evaluate(event(resource=one, at=T0 + timedelta(seconds=3)))
        assert len(fired()) == 1
        # Too far apart: a new window for "two" starts, one event is not enough.
        evaluate(event(resource=two, at=T0 + timedelta(seconds=200)))
        assert len(fired()) == 1

    def test_after_opens_the_window(self, queued):
        automation({"posture": "Reactive", "after": ["prefect.flow-run.Running"], "expect": ["prefect.flow-run.Failed"],
                    "within": 60})
        evaluate(event())
        assert fired() == []
        evaluate(event("prefect.flow-run.Running", at=T0 + timedelta(seconds=1)),
                 event(at=T0 + timedelta(seconds=2)))
        assert len(fired()) == 1

    def test_disabled_automations_are_not_evaluated(self, queued):
        automation({"posture": "Reactive", "expect": ["prefect.flow-run.Failed"]}, enabled=False)
        evaluate(event())
        assert fired() == [] and queued == []


class TestProactive:
    def test_fires_when_too_few_events_arrive_within_the_window(self, queued):
        automation({"posture": "Proactive", "expect": ["prefect.flow-run.Completed"], "within": 30})
        assert evaluate_proactive(T0) == 1
        assert fired() == []  # the window is still open
        evaluate_proactive(T0 + timedelta(seconds=31))
        assert len(fired()) == 1 and fired()[0].resource["prefect.posture"] == "Proactive"

    def test_enough_events_keep_it_quiet(self, queued):
        automation({"posture": "Proactive", "expect": ["prefect.flow-run.Completed"], "within": 30})
        evaluate_proactive(T0)
        evaluate(event("prefect.flow-run.Completed", at=T0 + timedelta(seconds=5)))
        evaluate_proactive(T0 + timedelta(seconds=31))
        assert fired() == []


class TestComposite:
    def test_compound_all_fires_once_every_child_fired(self, queued):
        automation({"type": "compound", "require": "all", "within": 60, "triggers": [
            {"posture": "Reactive", "expect": ["a.happened"]}, {"posture": "Reactive", "expect": ["b.happened"]},
        ]})
        evaluate(event("a.happened"))
        assert fired() == []
        evaluate(event("b.happened"))
        assert len(fired()) == 1
        assert AutomationBucket.objects.count() == 0

    def test_sequence_needs_the_children_in_order(self, queued):
        automation({"type": "sequence", "within": 60, "triggers": [
            {"posture": "Reactive", "expect": ["a.happened"]}, {"posture": "Reactive", "expect": ["b.happened"]},
        ]})
        evaluate(event("b.happened"))
        evaluate(event("a.happened"))
        assert fired() == []


class TestActions:
    def job(self, a, *action_specs, triggering_event=None):
        return triggers.json_safe({
            "automation": {"id": a.id, "name": a.name, "trigger_type": "event", "posture": "Reactive"},
            "invocation": uuid.uuid4(), "triggered": datetime.now(timezone.utc), "triggering_labels": {},
            "automation_triggered_event_id": str(uuid.uuid4()),
            "actions": [{"index": i, "action": spec, "triggering_event": triggering_event}
                        for i, spec in enumerate(action_specs)],
        })

    def test_each_action_reports_triggered_then_executed_or_failed(self):
        a = automation({"posture": "Reactive", "expect": ["x"]})
        target = automation({"posture": "Reactive", "expect": ["y"]})
        results = actions.run_actions(self.job(
            a, {"type": "do-nothing"}, {"type": "send-notification", "block_document_id": str(uuid.uuid4()), "body": "b"},
            {"type": "pause-automation", "source": "selected", "automation_id": str(target.id)},
            {"type": "cancel-flow-run"},
        ))
        assert results == [True, False, True, False]
        assert not Automation.objects.get(id=target.id).enabled
        assert len(fired("prefect.automation.action.triggered")) == 4
        failed = fired("prefect.automation.action.failed")
        assert {e.payload["action_type"] for e in failed} == {"send-notification", "cancel-flow-run"}
        assert {e.payload["reason"] for e in failed} >= {"No event to infer the flow run", "No flow run could be inferred"} \
            or any("No flow run" in e.payload["reason"] for e in failed)
        executed = fired("prefect.automation.action.executed")
        pause = next(e for e in executed if e.payload["action_type"] == "pause-automation")
        roles = {r["prefect.resource.role"]: r["prefect.resource.id"] for r in pause.related}
        assert roles["target"] == f"prefect.automation.{target.id}"
        assert "automation-triggered-event" in roles
        assert pause.resource["prefect.trigger-type"] == "event"

    def test_an_inferred_deployment_that_does_not_exist_fails_with_a_reason(self):
        a = automation({"posture": "Reactive", "expect": ["x"]})
        missing = uuid.uuid4()
        trigger_event = event(related=[{"prefect.resource.id": f"prefect.deployment.{missing}",
                                        "prefect.resource.role": "deployment"}])
        assert actions.run_actions(self.job(a, {"type": "run-deployment", "source": "inferred"},
                                            triggering_event=trigger_event)) == [False]
        failure = fired("prefect.automation.action.failed")[0]
        assert "not found" in failure.payload["reason"].lower()
        assert {"prefect.resource.id": f"prefect.deployment.{missing}", "prefect.resource.role": "target"} in failure.related


class TestEventsPath:
    def test_without_automations_a_batch_costs_one_query_and_queues_nothing(self, monkeypatch, django_capture_on_commit_callbacks):
        sent = []
        monkeypatch.setattr("django_q.tasks.async_task", lambda *args, **kwargs: sent.append(args))
        with django_capture_on_commit_callbacks(execute=True):
            record_events([event() for _ in range(5)])
        with CaptureQueriesContext(connection) as queries:
            jobs.queue_evaluation({uuid.uuid4(): "prefect.flow-run.Failed"})
        assert len(queries) == 1 and sent == []

    def test_one_job_per_committed_transaction_only_for_interesting_names(self, monkeypatch, django_capture_on_commit_callbacks):
        automation({"posture": "Reactive", "expect": ["prefect.flow-run.Failed"]})
        sent = []
        monkeypatch.setattr("django_q.tasks.async_task", lambda *args, **kwargs: sent.append(args))
        with django_capture_on_commit_callbacks(execute=True):
            from django.db import transaction
            with transaction.atomic():
                publish_event(event())
                publish_event(event("prefect.flow-run.Running"))
                record_events([event(), event()])
        assert len(sent) == 1 and len(sent[0][1]) == 4
        with django_capture_on_commit_callbacks(execute=True):
            publish_event(event("prefect.flow-run.Running"))
        assert len(sent) == 1
        assert jobs.evaluate_events(sent[0][1]) == 3

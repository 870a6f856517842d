import itertools
import random
import uuid
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from runs.domain.errors import InvalidInput
from runs.domain.events import record_events
from runs.domain.events import EVENT_COLUMNS, RESOURCE_COLUMNS
from runs.events.task_runs import INSERTED_COLUMNS, STATE_COLUMNS
from runs.models import Event, EventResource, TaskRun, TaskRunState

from .helpers import T0, event, make_flow_run, retried_task_events, task_run_event

pytestmark = pytest.mark.django_db


def final_rows(task_run_id):
    run = TaskRun.objects.get(id=task_run_id)
    states = list(TaskRunState.objects.filter(task_run_id=task_run_id).order_by("timestamp").values_list("id", "name"))
    return (run.state_id, run.state_type, run.state_name, run.run_count, run.end_time, run.flow_run_id), states


class TestRecordEvents:
    def test_it_stores_the_event_and_one_resource_row_per_resource(self):
        related = [{"prefect.resource.id": "prefect.flow.1", "prefect.resource.role": "flow", "x": "y"}]
        sent = event("prefect.artifact.created", "prefect.artifact.1", related=related, labels={"a": "b"})
        record_events([sent])
        stored = Event.objects.get(id=sent["id"])
        assert stored.event == "prefect.artifact.created"
        assert stored.resource == {"prefect.resource.id": "prefect.artifact.1", "a": "b"}
        assert stored.received is not None
        rows = sorted(EventResource.objects.filter(event=stored).values_list("role", "resource_id"))
        assert rows == [("", "prefect.artifact.1"), ("flow", "prefect.flow.1")]
        assert EventResource.objects.get(event=stored, role="flow").labels["x"] == "y"

    def test_sending_an_event_twice_creates_no_duplicates(self):
        sent = event()
        record_events([sent, sent])
        record_events([sent])
        assert Event.objects.count() == 1
        assert EventResource.objects.count() == 1

    def test_a_bad_event_rejects_the_whole_batch(self):
        good, bad = event(), event()
        del bad["resource"]["prefect.resource.id"]
        with pytest.raises(InvalidInput, match="prefect.resource.id"):
            record_events([good, bad])
        assert Event.objects.count() == 0

    @pytest.mark.parametrize(
        "change, message",
        [
            (lambda e: e.pop("occurred"), "occurred"),
            (lambda e: e.update(id="not-a-uuid"), "id"),
            (lambda e: e.update(related=[{"prefect.resource.id": "x"}]), "role"),
            (lambda e: e.update(related=[{"prefect.resource.id": "x", "prefect.resource.role": "r"}] * 101), "at most 100"),
            (lambda e: e["resource"].update({f"l{i}": "v" for i in range(500)}), "at most 500"),
        ],
    )
    def test_invalid_events_are_refused_with_a_reason(self, change, message):
        sent = event()
        change(sent)
        with pytest.raises(InvalidInput, match=message):
            record_events([sent])

    def test_server_side_callers_may_pass_datetimes_and_uuids(self):
        event_id = uuid.uuid4()
        record_events([{"occurred": T0, "event": "x", "resource": {"prefect.resource.id": "r", "n": 3}, "id": event_id}])
        stored = Event.objects.get(id=event_id)
        assert stored.occurred == T0
        assert stored.resource["n"] == "3"


class TestRecordTaskRuns:
    def test_the_retried_tasks_seven_states_become_one_run_and_its_history(self):
        flow_run = make_flow_run()
        task_run_id = uuid.uuid4()
        events = retried_task_events(task_run_id, flow_run.id)
        record_events(events)
        run = TaskRun.objects.get(id=task_run_id)
        assert run.flow_run_id == flow_run.id
        assert (run.state_type, run.state_name, run.run_count) == ("COMPLETED", "Completed", 3)
        assert str(run.state_id) == events[-1]["id"]
        assert run.task_key == "add-f71" and run.dynamic_key == "0" and run.tags == ["t1"]
        assert run.total_run_time == timedelta(seconds=1.5)
        assert run.end_time == T0 + timedelta(seconds=6)
        states = TaskRunState.objects.filter(task_run=run).order_by("timestamp")
        assert [str(s.id) for s in states] == [e["id"] for e in events]
        assert [s.name for s in states] == ["Pending", "Running", "AwaitingRetry", "Retrying", "AwaitingRetry",
                                            "Retrying", "Completed"]
        assert all(s.state_details["task_run_id"] == str(task_run_id) for s in states)
        assert all(s.state_details["flow_run_id"] == str(flow_run.id) for s in states)

    def test_events_in_any_order_and_any_batching_give_the_same_rows(self):
        flow_run = make_flow_run()
        task_run_id = uuid.uuid4()
        events = retried_task_events(task_run_id, flow_run.id)
        record_events(events)
        expected = final_rows(task_run_id)
        for seed in range(5):
            TaskRun.objects.all().delete()
            Event.objects.all().delete()
            shuffled = random.Random(seed).sample(events, len(events))
            cut = seed + 1
            record_events(shuffled[:cut])
            record_events(shuffled[cut:])
            assert final_rows(task_run_id) == expected

    def test_an_older_event_does_not_overwrite_a_newer_state(self):
        flow_run = make_flow_run()
        task_run_id = uuid.uuid4()
        record_events([task_run_event(task_run_id, "COMPLETED", flow_run_id=flow_run.id, at=2)])
        record_events([task_run_event(task_run_id, "RUNNING", flow_run_id=flow_run.id, at=1)])
        run = TaskRun.objects.get(id=task_run_id)
        assert run.state_type == "COMPLETED"
        assert run.states.count() == 2

    def test_re_sent_task_events_add_no_states(self):
        flow_run = make_flow_run()
        events = retried_task_events(uuid.uuid4(), flow_run.id)
        record_events(events)
        Event.objects.all().delete()  # even if the event rows themselves were pruned meanwhile
        record_events(events)
        assert TaskRun.objects.count() == 1
        assert TaskRunState.objects.count() == 7

    def test_a_task_run_is_matched_on_its_natural_key(self):
        flow_run = make_flow_run()
        first_id, second_id = uuid.uuid4(), uuid.uuid4()
        record_events([task_run_event(first_id, "PENDING", flow_run_id=flow_run.id, at=0)])
        later = task_run_event(second_id, "RUNNING", flow_run_id=flow_run.id, at=1)
        record_events([later])
        run = TaskRun.objects.get()
        assert run.id == first_id
        assert run.state_type == "RUNNING"
        state = TaskRunState.objects.get(id=later["id"])
        assert state.task_run_id == first_id
        assert state.state_details["task_run_id"] == str(first_id)

    def test_natural_key_matching_also_works_within_one_batch(self):
        flow_run = make_flow_run()
        record_events(
            [
                task_run_event(uuid.uuid4(), "PENDING", flow_run_id=flow_run.id, at=0),
                task_run_event(uuid.uuid4(), "RUNNING", flow_run_id=flow_run.id, at=1),
            ]
        )
        assert TaskRun.objects.get().states.count() == 2

    def test_an_unknown_flow_run_is_stored_as_null_and_filled_in_later(self):
        missing_flow_run = uuid.uuid4()
        task_run_id = uuid.uuid4()
        record_events([task_run_event(task_run_id, "PENDING", flow_run_id=missing_flow_run)])
        run = TaskRun.objects.get(id=task_run_id)
        assert run.flow_run_id is None
        assert run.states.get().state_details["flow_run_id"] == str(missing_flow_run)

        flow_run = make_flow_run()
        record_events([task_run_event(task_run_id, "RUNNING", flow_run_id=flow_run.id, at=1)])
        run.refresh_from_db()
        assert run.flow_run_id == flow_run.id

    def test_a_task_run_without_a_flow_run_is_recorded(self):
        task_run_id = uuid.uuid4()
        record_events([task_run_event(task_run_id, "RUNNING")])
        assert TaskRun.objects.get(id=task_run_id).flow_run_id is None

    def test_only_client_orchestrated_task_run_events_count(self):
        server_side = task_run_event(uuid.uuid4(), "RUNNING")
        server_side["resource"]["prefect.orchestration"] = "server"
        record_events([server_side, event("prefect.flow-run.Running", "prefect.flow-run.x")])
        assert Event.objects.count() == 2
        assert TaskRun.objects.count() == 0

    def test_a_malformed_task_run_event_is_stored_but_not_folded(self, caplog):
        broken = task_run_event(uuid.uuid4(), "RUNNING")
        broken["payload"]["validated_state"]["type"] = "NOPE"
        record_events([broken])
        assert Event.objects.count() == 1
        assert TaskRun.objects.count() == 0
        assert "not recorded as a task run" in caplog.text

    def test_a_large_burst_takes_a_bounded_number_of_queries(self):
        flow_run = make_flow_run()
        events = list(
            itertools.chain.from_iterable(
                [
                    task_run_event(task_id, "PENDING", flow_run_id=flow_run.id, task_key=f"t{n}", at=0),
                    task_run_event(task_id, "RUNNING", flow_run_id=flow_run.id, task_key=f"t{n}", at=1),
                    task_run_event(task_id, "COMPLETED", flow_run_id=flow_run.id, task_key=f"t{n}", at=2),
                ]
                for n, task_id in enumerate(uuid.uuid4() for _ in range(150))
            )
        )
        with CaptureQueriesContext(connection) as queries:
            record_events(events)
        assert TaskRun.objects.filter(state_type="COMPLETED").count() == 150
        assert TaskRunState.objects.count() == 450
        # A fixed handful of statements for the whole batch, not a few per event.
        assert len(queries) <= 12, [q["sql"][:80] for q in queries.captured_queries]

    def test_a_new_task_run_row_sets_every_column(self):
        """The raw insert must name every column: nothing falls back to a default the ORM would fill."""
        assert set(INSERTED_COLUMNS) == {field.attname for field in TaskRun._meta.concrete_fields}
        assert set(STATE_COLUMNS) == {field.attname for field in TaskRunState._meta.concrete_fields}
        assert set(EVENT_COLUMNS) == {field.attname for field in Event._meta.concrete_fields}
        assert set(RESOURCE_COLUMNS) | {"id"} == {field.attname for field in EventResource._meta.concrete_fields}

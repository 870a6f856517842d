"""Every filter is checked both ways: in SQL and in memory, which must agree with each other and
with the expected events."""

from datetime import timedelta

import pytest
from pydantic import ValidationError

from runs.domain.events import record_events
from runs.events.filters import EventFilter, glob_regex, label_matches
from runs.models import Event

from .helpers import T0, event

pytestmark = pytest.mark.django_db

FLOW_RUN = {"prefect.resource.id": "prefect.flow-run.aaa", "prefect.resource.role": "flow-run",
            "prefect.resource.name": "happy-fox"}
FLOW = {"prefect.resource.id": "prefect.flow.fff", "prefect.resource.role": "flow", "prefect.resource.name": "etl"}
TAG = {"prefect.resource.id": "prefect.tag.nightly", "prefect.resource.role": "tag"}

EVENTS = {
    "cancelling": event("prefect.flow-run.Cancelling", "prefect.flow-run.aaa", [FLOW], T0,
                        labels={"prefect.state-type": "CANCELLING", "prefect.resource.name": "happy-fox"}),
    "task_running": event("prefect.task-run.Running", "prefect.task-run.ttt", [FLOW_RUN, FLOW, TAG],
                          T0 + timedelta(minutes=1), labels={"prefect.state-type": "RUNNING"},
                          payload={"note": "Connection Timeout while loading"}),
    "worker": event("prefect.worker.started", "prefect.worker.process.W1", [], T0 + timedelta(minutes=2),
                    labels={"prefect.worker-type": "process"}),
    "block": event("prefect.block.secret.loaded", "prefect.block-document.bbb", [TAG],
                   T0 + timedelta(minutes=3)),
}
WINDOW = {"since": (T0 - timedelta(hours=1)).isoformat(), "until": (T0 + timedelta(hours=1)).isoformat()}


@pytest.fixture
def stored():
    record_events(list(EVENTS.values()))
    return {name: Event.objects.get(id=sent["id"]) for name, sent in EVENTS.items()}


def selected(stored, criteria: dict) -> tuple[set, set]:
    event_filter = EventFilter.model_validate({"occurred": WINDOW, **criteria})
    by_id = {row.id: name for name, row in stored.items()}
    in_sql = {by_id[row_id] for row_id in Event.objects.filter(event_filter.to_q()).values_list("id", flat=True)}
    in_memory = {name for name, row in stored.items() if event_filter.matches(row)}
    return in_sql, in_memory


CASES = [
    ("no criteria", {}, {"cancelling", "task_running", "worker", "block"}),
    ("event name", {"event": {"name": ["prefect.flow-run.Cancelling"]}}, {"cancelling"}),
    ("event prefix", {"event": {"prefix": ["prefect.task-run.", "prefect.worker."]}}, {"task_running", "worker"}),
    ("prefix is case-sensitive", {"event": {"prefix": ["PREFECT.worker"]}}, set()),
    ("prefix is literal text", {"event": {"prefix": ["prefect.*"]}}, set()),
    ("exclude prefix", {"event": {"exclude_prefix": ["prefect.task-run", "prefect.block"]}}, {"cancelling", "worker"}),
    ("exclude name", {"event": {"exclude_name": ["prefect.worker.started"]}}, {"cancelling", "task_running", "block"}),
    ("client's cancel subscription", {"event": {"prefix": None, "exclude_prefix": None,
                                                "name": ["prefect.flow-run.Cancelling"], "exclude_name": None},
                                      "resource": None, "related": None, "any_resource": None, "id": {"id": []},
                                      "text": None, "order": "DESC"}, {"cancelling"}),
    ("resource id", {"resource": {"id": ["prefect.worker.process.W1"]}}, {"worker"}),
    ("resource id prefix", {"resource": {"id_prefix": ["prefect.flow-run.", "prefect.block"]}}, {"cancelling", "block"}),
    ("resource label glob", {"resource": {"labels": {"prefect.resource.id": "prefect.*-run.*"}}},
     {"cancelling", "task_running"}),
    ("resource label value", {"resource": {"labels": {"prefect.state-type": ["RUNNING", "CANCELLING"]}}},
     {"cancelling", "task_running"}),
    ("negated label skips resources without it", {"resource": {"labels": {"prefect.state-type": "!RUNNING"}}},
     {"cancelling"}),
    ("glob ? matches one character", {"resource": {"labels": {"prefect.worker-type": "proce??"}}}, {"worker"}),
    ("empty label list matches nothing", {"resource": {"labels": {"prefect.state-type": []}}}, set()),
    ("related id", {"related": {"id": ["prefect.flow.fff"]}}, {"cancelling", "task_running"}),
    ("related role", {"related": {"role": ["tag"]}}, {"task_running", "block"}),
    ("related resource in role", {"related": {"resources_in_roles": [["prefect.flow-run.aaa", "flow-run"]]}},
     {"task_running"}),
    ("related never matches the primary resource", {"related": {"id": ["prefect.flow-run.aaa"]}}, {"task_running"}),
    ("related labels", {"related": {"labels": {"prefect.resource.name": "etl"}}}, {"cancelling", "task_running"}),
    ("related role label", {"related": {"labels": {"prefect.resource.role": "flow*"}}}, {"cancelling", "task_running"}),
    ("related criteria hold for one resource",
     {"related": {"role": ["tag"], "labels": {"prefect.resource.name": "etl"}}}, set()),
    ("related list is all-of", {"related": [{"role": ["tag"]}, {"role": ["flow"]}]}, {"task_running"}),
    ("any resource id", {"any_resource": {"id": ["prefect.flow-run.aaa"]}}, {"cancelling", "task_running"}),
    ("any resource prefix", {"any_resource": {"id_prefix": ["prefect.tag."]}}, {"task_running", "block"}),
    ("any resource labels", {"any_resource": {"labels": {"prefect.resource.name": "happy-*"}}},
     {"cancelling", "task_running"}),
    ("text", {"text": {"query": "timeout"}}, {"task_running"}),
    ("text phrase and exclusion", {"text": {"query": '"connection timeout" -nightly'}}, set()),
    ("text exclusion", {"text": {"query": "-nightly"}}, {"cancelling", "worker"}),
]


class TestEventFilter:
    @pytest.mark.parametrize("criteria, expected", [case[1:] for case in CASES], ids=[case[0] for case in CASES])
    def test_sql_and_memory_select_the_same_events(self, stored, criteria, expected):
        in_sql, in_memory = selected(stored, criteria)
        assert in_sql == expected
        assert in_memory == expected

    def test_the_time_window_is_inclusive(self, stored):
        window = {"occurred": {"since": T0.isoformat(), "until": (T0 + timedelta(minutes=1)).isoformat()}}
        event_filter = EventFilter.model_validate(window)
        assert set(Event.objects.filter(event_filter.to_q())) == {stored["cancelling"], stored["task_running"]}
        assert [e for e in stored.values() if event_filter.matches(e)] == [stored["cancelling"], stored["task_running"]]

    def test_event_ids(self, stored):
        event_filter = EventFilter.model_validate({"occurred": WINDOW, "id": {"id": [EVENTS["worker"]["id"]]}})
        assert list(Event.objects.filter(event_filter.to_q())) == [stored["worker"]]
        assert event_filter.matches(stored["worker"]) and not event_filter.matches(stored["block"])

    def test_unknown_criteria_are_refused(self):
        with pytest.raises(ValidationError):
            EventFilter.model_validate({"event": {"names": ["x"]}})

    def test_null_occurred_and_id_mean_defaults(self):
        event_filter = EventFilter.model_validate({"occurred": None, "id": None})
        assert event_filter.occurred.until > event_filter.occurred.since


class TestLabelPatterns:
    @pytest.mark.parametrize(
        "pattern, value, expected",
        [
            ("a.b", "a.b", True),
            ("a.b", "axb", False),
            ("a*", "abc", True),
            ("*c", "abc", True),
            ("a?c", "abc", True),
            ("a?c", "abbc", False),
            ("!a*", "abc", False),
            ("!a*", "xyz", True),
            ("!a*", None, False),
            ("[ab]", "a", False),
            ("a(b)+", "a(b)+", True),
        ],
    )
    def test_globs(self, pattern, value, expected):
        assert label_matches(pattern, value) is expected

    def test_a_glob_is_a_regex_postgres_reads_the_same_way(self):
        assert glob_regex("prefect.flow-run.*") == r"(?s)\Aprefect\.flow\-run\..*\Z"

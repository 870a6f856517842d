import email.utils
import logging
from datetime import timedelta
from datetime import timezone as dt_timezone

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from notifications import deliveries, policies
from notifications.channels import CHANNELS
from notifications.models import Delivery, DeliveryStatus
from runs.models import FlowRunState

from .conftest import HEADER_TOKEN, URL_TOKEN, enter


def only_delivery(**filters):
    (delivery,) = Delivery.objects.filter(**filters)
    return delivery


def attempts_of(delivery):
    return list(delivery.attempts.order_by("number").values_list("number", "status_code", "error"))


# Matching -------------------------------------------------------------------------------------------


def test_matches_state_name_and_any_tag(webhook_policy, make_run):
    policy = webhook_policy(state_names=["Failed", "Crashed"], tags=["prod", "critical"])
    tagged, untagged, other = make_run(tags=["etl", "prod"]), make_run(), make_run(tags=["dev"])
    for run in (tagged, untagged, other):
        enter(run, "RUNNING")
        enter(run, "FAILED")
    delivery = only_delivery(policy=policy)
    assert delivery.flow_run_id == tagged.id
    assert delivery.state_id == FlowRunState.objects.filter(flow_run=tagged, type="FAILED").get().id
    assert delivery.status == DeliveryStatus.PENDING and not delivery.is_test


def test_no_tags_means_every_run_and_late_is_a_state_name(webhook_policy, make_run):
    late_policy = webhook_policy(state_names=["late"])
    scheduled_policy = webhook_policy(state_names=["Scheduled"])
    run = make_run(tags=["anything"])
    enter(run, "SCHEDULED", name="Late")
    assert Delivery.objects.filter(policy=late_policy).count() == 1
    assert Delivery.objects.filter(policy=scheduled_policy).count() == 0  # type SCHEDULED, name Late


def test_paused_policy_queues_nothing(webhook_policy, make_run):
    policy = webhook_policy()
    policies.pause_policy(policy_id=policy.id)
    enter(make_run(), "FAILED")
    assert not Delivery.objects.exists()
    policies.resume_policy(policy_id=policy.id)
    enter(make_run(), "FAILED")
    assert Delivery.objects.count() == 1


def test_default_message_is_rendered_when_the_state_is_written(webhook_policy, make_run, flow):
    webhook_policy(message_template="")
    custom = webhook_policy(message_template="{flow_name} is {state_name}: {state_message} [{tags}]")
    run = make_run(name="fuzzy-leopard", tags=["a", "b"])
    enter(run, "FAILED", message="division by zero")
    default_delivery = Delivery.objects.exclude(policy=custom).get()
    assert default_delivery.subject == f"Flow run {flow.name}/fuzzy-leopard entered Failed"
    assert default_delivery.body.startswith(f"The fuzzy-leopard run of the {flow.name} flow entered a failed state at ")
    assert default_delivery.body.endswith(f"UTC.\nhttp://127.0.0.1:4200/runs/{run.id}/")
    assert Delivery.objects.get(policy=custom).body == f"{flow.name} is Failed: division by zero [a, b]"


def test_the_same_state_never_queues_twice(webhook_policy, make_run):
    webhook_policy()
    run = make_run()
    enter(run, "FAILED")
    state = run.__class__.objects.select_related("flow", "state").get(pk=run.id)
    deliveries.queue_notifications(state, state.flow, state.state)  # as if the state were written again
    assert Delivery.objects.count() == 1


def test_hook_costs_one_query_and_one_insert(webhook_policy, make_run, django_capture_on_commit_callbacks):
    for _ in range(5):
        webhook_policy(state_names=["Completed"])
    run = make_run()
    flow = run.flow
    state = FlowRunState(id=None, flow_run=run, type="FAILED", name="Failed", timestamp=timezone.now())
    state.id = FlowRunState._meta.pk.default()
    with CaptureQueriesContext(connection) as nothing_matches:
        deliveries.queue_notifications(run, flow, state)
    assert len(nothing_matches) == 1, [q["sql"] for q in nothing_matches]

    for _ in range(3):
        webhook_policy(state_names=["Failed"])
    with django_capture_on_commit_callbacks() as callbacks, CaptureQueriesContext(connection) as three_match:
        deliveries.queue_notifications(run, flow, state)
    assert len(three_match) == 2  # the policies, then one bulk insert
    assert Delivery.objects.count() == 3 and len(callbacks) == 1


def test_delivery_jobs_are_queued_only_when_the_state_commits(webhook_policy, make_run, monkeypatch, django_capture_on_commit_callbacks):
    queued = []
    monkeypatch.setattr("django_q.tasks.async_task", lambda func, *args, **kwargs: queued.append((func, args)))
    webhook_policy()
    run = make_run()
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        enter(run, "FAILED")
    assert queued == []  # not before the commit
    for callback in callbacks:
        callback()
    assert queued == [("notifications.deliveries.send_delivery", (str(only_delivery().id),))]


def test_a_rolled_back_state_leaves_no_delivery(webhook_policy, make_run, monkeypatch):
    webhook_policy()
    run = make_run()

    def crash(*args, **kwargs):
        raise RuntimeError("the event store is down")

    monkeypatch.setattr("runs.orchestration.engine._mirror_onto_parent_task_run", crash)
    run.parent_task_run_id = None
    monkeypatch.setattr("runs.orchestration.engine.publish_event", crash)
    with pytest.raises(RuntimeError):
        enter(run, "FAILED")
    assert not Delivery.objects.exists()


# Sending --------------------------------------------------------------------------------------------


@pytest.fixture
def failed_run_delivery(webhook_policy, make_run):
    """A PENDING delivery of a webhook policy for a run that just failed."""

    def make(**policy_fields):
        policy = webhook_policy(**policy_fields)
        enter(make_run(), "FAILED")
        return only_delivery(policy=policy)

    return make


def test_sends_once_and_records_the_attempt(failed_run_delivery, capture):
    delivery = failed_run_delivery()
    assert deliveries.send_delivery(delivery.id) == DeliveryStatus.SENT
    assert deliveries.send_delivery(delivery.id) is None  # the job run again: nothing to do
    (request,) = capture.requests
    assert request.path == f"/hooks/{URL_TOKEN}"
    assert request.header("Authorization") == HEADER_TOKEN
    assert request.header("Idempotency-Key") == str(delivery.id)
    assert request.json["body"] == delivery.body
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempt_count, delivery.last_error) == (DeliveryStatus.SENT, 1, "")
    assert delivery.sent_at is not None and delivery.lease_until is None
    (attempt,) = delivery.attempts.all()
    assert (attempt.number, attempt.status_code, attempt.error, attempt.response_excerpt) == (1, 200, "", "ok")
    assert attempt.started_at <= attempt.finished_at


def test_retries_500_and_429_with_retry_after_then_succeeds(failed_run_delivery, capture, fast_retries):
    capture.respond("/hooks/", [(500, {}, "oops"), (429, {"Retry-After": "1"}, "slow down"), (200, {}, "ok")])
    delivery = failed_run_delivery()
    assert deliveries.send_delivery(delivery.id) == DeliveryStatus.SENT
    assert len(capture.requests) == 3
    assert {request.header("Idempotency-Key") for request in capture.requests} == {str(delivery.id)}
    assert capture.requests[2].body == capture.requests[0].body
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.SENT and delivery.attempt_count == 3
    assert [(n, code) for n, code, _ in attempts_of(delivery)] == [(1, 500), (2, 429), (3, 200)]
    attempts = list(delivery.attempts.order_by("number"))
    assert attempts[1].error.startswith("HTTP 429") and attempts[0].response_excerpt == "oops"
    assert (attempts[2].started_at - attempts[1].finished_at) >= timedelta(seconds=1)  # honoured Retry-After


def test_permanent_failure_on_400(failed_run_delivery, capture, fast_retries):
    capture.respond("/hooks/", [(400, {}, '{"error": "invalid payload"}')])
    delivery = failed_run_delivery()
    assert deliveries.send_delivery(delivery.id) == DeliveryStatus.FAILED
    assert len(capture.requests) == 1
    delivery.refresh_from_db()
    assert delivery.last_error.startswith("HTTP 400")
    assert attempts_of(delivery) == [(1, 400, delivery.last_error)]
    assert delivery.attempts.get().response_excerpt == '{"error": "invalid payload"}'


def test_gives_up_after_max_attempts(failed_run_delivery, capture, fast_retries):
    capture.respond("/hooks/", [(503, {}, "")])
    delivery = failed_run_delivery()
    assert deliveries.send_delivery(delivery.id) == DeliveryStatus.FAILED
    assert len(capture.requests) == 3  # PREFECT_NOTIFICATIONS_MAX_ATTEMPTS=3 here
    delivery.refresh_from_db()
    assert "gave up after 3 attempts" in delivery.last_error


def test_long_waits_are_left_to_the_sweeper(failed_run_delivery, capture, fast_retries):
    capture.respond("/hooks/", [(429, {"Retry-After": "120"}, ""), (200, {}, "ok")])
    delivery = failed_run_delivery()
    assert deliveries.send_delivery(delivery.id) == DeliveryStatus.PENDING
    delivery.refresh_from_db()
    assert timedelta(seconds=115) < delivery.next_attempt_at - timezone.now() <= timedelta(seconds=120)
    assert deliveries.send_due_deliveries() == 0  # not due yet
    Delivery.objects.filter(pk=delivery.pk).update(next_attempt_at=timezone.now())
    assert deliveries.send_due_deliveries() == 1
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.SENT and len(capture.requests) == 2


def test_connection_errors_are_retried(failed_run_delivery, capture, fast_retries, monkeypatch):
    import requests

    real_request = requests.request
    calls = []

    def refuse_first(method, url, **kwargs):
        calls.append(url)
        if len(calls) == 1:
            raise requests.ConnectionError(f"HTTPConnectionPool(host='127.0.0.1'): Max retries exceeded with url: /hooks/{URL_TOKEN}")
        return real_request(method, url, **kwargs)

    monkeypatch.setattr(requests, "request", refuse_first)
    delivery = failed_run_delivery()
    assert deliveries.send_delivery(delivery.id) == DeliveryStatus.SENT
    first = delivery.attempts.order_by("number").first()
    assert first.status_code is None and first.error.startswith("Connection failed")
    assert URL_TOKEN not in first.error


def test_worker_death_is_recovered_by_the_sweeper(failed_run_delivery, capture):
    delivery = failed_run_delivery()
    # A worker claims it and dies before sending: the delivery stays SENDING under its lease.
    assert deliveries._claim(delivery.id) is not None
    assert deliveries.send_delivery(delivery.id) is None  # leased: a second worker keeps off
    assert deliveries.send_due_deliveries() == 0
    Delivery.objects.filter(pk=delivery.pk).update(lease_until=timezone.now() - timedelta(seconds=1))
    assert deliveries.send_due_deliveries() == 1
    assert len(capture.requests) == 1
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.SENT and delivery.attempt_count == 2
    first, second = delivery.attempts.order_by("number")
    assert "worker stopped" in first.error and second.status_code == 200


def test_worker_death_after_the_request_resends_with_the_same_key(failed_run_delivery, capture, monkeypatch):
    """The service got the request but the worker died before committing: the one case we resend."""
    delivery = failed_run_delivery()
    channel = CHANNELS["webhook"]
    real_send = channel.send_one

    def send_then_die(outgoing, session=None):
        real_send(outgoing)
        raise SystemExit("worker killed before recording the outcome")

    monkeypatch.setattr(channel, "send_one", send_then_die)
    with pytest.raises(SystemExit):
        deliveries.send_delivery(delivery.id)
    monkeypatch.setattr(channel, "send_one", real_send)
    assert Delivery.objects.get(pk=delivery.pk).status == DeliveryStatus.SENDING
    Delivery.objects.filter(pk=delivery.pk).update(lease_until=timezone.now() - timedelta(seconds=1))
    deliveries.send_due_deliveries()
    deliveries.send_due_deliveries()
    assert len(capture.requests) == 2  # at least once: the service can drop the resend by its key
    assert capture.requests[0].header("Idempotency-Key") == capture.requests[1].header("Idempotency-Key")
    assert Delivery.objects.get(pk=delivery.pk).status == DeliveryStatus.SENT


def test_a_stale_worker_cannot_overwrite_a_newer_attempt(failed_run_delivery, capture):
    delivery = failed_run_delivery()
    stale_delivery, stale_attempt = deliveries._claim(delivery.id)
    Delivery.objects.filter(pk=delivery.pk).update(lease_until=timezone.now() - timedelta(seconds=1))
    capture.respond("/hooks/", [(400, {}, "")])
    assert deliveries.send_delivery(delivery.id) == DeliveryStatus.FAILED
    capture.respond("/hooks/", [(200, {}, "")])
    deliveries._attempt(stale_delivery, stale_attempt)  # the old worker wakes up and succeeds
    assert Delivery.objects.get(pk=delivery.pk).status == DeliveryStatus.FAILED


def test_a_retry_skips_requests_already_answered(fan_out_channel, make_run, capture, fast_retries):
    policies.create_policy(
        state_names=["Failed"], channel="fan_out",
        channel_config={"base_url": f"{capture.url}/sms", "recipients": ["alice", "bob", "carol"]},
    )
    capture.respond("/sms/bob", [(500, {}, ""), (200, {}, "")])
    enter(make_run(), "FAILED")
    assert deliveries.send_delivery(only_delivery().id) == DeliveryStatus.SENT
    assert [request.path for request in capture.requests] == ["/sms/alice", "/sms/bob", "/sms/bob", "/sms/carol"]
    assert only_delivery().completed_requests == [0, 1, 2]


def test_secrets_stay_out_of_attempts_errors_and_logs(failed_run_delivery, capture, caplog, fast_retries):
    echo = f"received Authorization: {HEADER_TOKEN} at {capture.url}/hooks/{URL_TOKEN}"
    capture.respond("/hooks/", [(500, {}, echo), (401, {}, echo)])
    delivery = failed_run_delivery()
    with caplog.at_level(logging.DEBUG):
        assert deliveries.send_delivery(delivery.id) == DeliveryStatus.FAILED
    delivery.refresh_from_db()
    records = [delivery.last_error] + [
        text for attempt in delivery.attempts.all() for text in (attempt.error, attempt.response_excerpt)
    ]
    assert "received Authorization: ********" in records[1 + 1]
    for text in records + [caplog.text]:
        assert URL_TOKEN not in text and "header-secret" not in text


def test_unreachable_service_error_is_scrubbed(webhook_policy, make_run, caplog, fast_retries, prefect_settings):
    prefect_settings(PREFECT_NOTIFICATIONS_MAX_ATTEMPTS="1")
    from tests.e2e.harness import free_port

    policy = policies.create_policy(
        state_names=["Failed"], channel="webhook",
        channel_config={"url": f"http://127.0.0.1:{free_port()}/hooks/{URL_TOKEN}"},
    )
    enter(make_run(), "FAILED")
    delivery = only_delivery(policy=policy)
    with caplog.at_level(logging.DEBUG):
        assert deliveries.send_delivery(delivery.id) == DeliveryStatus.FAILED
    delivery.refresh_from_db()
    assert delivery.last_error.startswith("Connection failed")
    assert URL_TOKEN not in delivery.last_error and URL_TOKEN not in caplog.text


def test_send_test_message(webhook_policy, capture):
    policy = webhook_policy(message_template="{flow_name} entered {state_name}")
    delivery = deliveries.send_test_message(policy)
    assert delivery.is_test and delivery.state_id is None and delivery.flow_run_id is None
    assert delivery.body == "sample-flow entered Failed"
    assert deliveries.send_delivery(delivery.id) == DeliveryStatus.SENT
    assert capture.requests[0].json["body"] == "sample-flow entered Failed"
    deliveries.send_test_message(policy)  # test messages are not unique per state
    assert Delivery.objects.filter(policy=policy, is_test=True).count() == 2


@pytest.mark.parametrize(
    "value, low, high",
    [("7", 7, 7), (None, None, None), ("soon", None, None), ("999999", 3600, 3600), ("0", 0, 0)],
)
def test_retry_after_seconds(value, low, high):
    seconds = deliveries.parse_retry_after(value)
    assert seconds == low == high if low is None else low <= seconds <= high


def test_retry_after_http_date():
    moment = timezone.now() + timedelta(seconds=30)
    seconds = deliveries.parse_retry_after(email.utils.format_datetime(moment.astimezone(dt_timezone.utc), usegmt=True))
    assert 28 <= seconds <= 30
    assert deliveries.parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0

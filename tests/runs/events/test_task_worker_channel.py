"""The task worker subscription (/api/task_runs/subscriptions/scheduled) and POST /api/task_workers/filter.

Runs are created over REST as `task.delay()` creates them; what the socket sends is checked against
the 3.8.8 client's own TaskRun model.
"""

import asyncio
import json
import uuid
from datetime import timedelta

import pytest
from channels.db import database_sync_to_async
from django.test import Client
from django.utils import timezone
from prefect.client.schemas.objects import TaskRun as ClientTaskRun

from orchestrator_site.asgi import application
from runs.domain import task_workers
from runs.events import task_worker_channel
from runs.models import TaskRun, TaskRunDelivery, TaskWorker

from .helpers import WebsocketClient, run

pytestmark = pytest.mark.django_db(transaction=True)

PATH = "/api/task_runs/subscriptions/scheduled"
ADD, MUL = "add-2f9c1e", "mul-77ab01"


@pytest.fixture(autouse=True)
def fast_polling(monkeypatch):
    monkeypatch.setattr(task_worker_channel, "POLL_SECONDS", 0.05)



def api_post(path, body):
    response = Client().post(f"/api{path}", data=json.dumps(body), content_type="application/json")
    return response.status_code, json.loads(response.content)


def delay(task_key=ADD, *, deferred=True, name="Scheduled", flow_run_id=None) -> dict:
    """A task run as `task.delay()` creates it: Scheduled, deferred, its parameters' id in the state."""
    details = {"deferred": deferred, "task_parameters_id": str(uuid.uuid4())}
    status, body = api_post("/task_runs/", {
        "task_key": task_key, "dynamic_key": f"{task_key}-{uuid.uuid4().hex}", "name": task_key.split("-")[0],
        "flow_run_id": flow_run_id, "state": {"type": "SCHEDULED", "name": name, "state_details": details},
    })
    assert status == 201, body
    return body


async def subscribe(keys=(ADD,), client_id="host-1"):
    client = WebsocketClient(application, PATH, ("prefect",))
    await client.connect()
    await client.send_to(json.dumps({"type": "auth", "token": None}))
    assert json.loads(await client.receive_from()) == {"type": "auth_success"}
    await client.send_to(json.dumps({"type": "subscribe", "keys": list(keys), "client_id": client_id}))
    return client


async def receive_run(client, timeout=5) -> ClientTaskRun:
    return ClientTaskRun.model_validate_json(await client.receive_from(timeout))


async def ack(client):
    await client.send_to(json.dumps({"type": "ack"}))


async def nothing_arrives(client, seconds=0.5) -> bool:
    return await client.receive_nothing(seconds)  # unlike a timed-out receive, leaves the consumer running


async def expect_close(client, code):
    message = await client.receive_output(5)
    assert message["type"] == "websocket.close", message
    assert message.get("code", 1000) == code  # a close without a code is a normal one
    return message


def in_db(function, *args, **kwargs):
    return database_sync_to_async(function)(*args, **kwargs)


class TestDelivery:
    def test_a_waiting_run_is_sent_as_the_client_reads_it_and_its_ack_recorded(self):
        scheduled = delay()

        async def scenario():
            client = await subscribe()
            received = await receive_run(client)
            await ack(client)
            await asyncio.sleep(0.2)
            await client.disconnect()
            return received

        received = run(scenario())
        assert str(received.id) == scheduled["id"] and received.task_key == ADD
        assert received.state.type.value == "SCHEDULED" and received.state.state_details.deferred is True
        assert str(received.state.state_details.task_parameters_id) == (
            scheduled["state"]["state_details"]["task_parameters_id"]
        )
        delivery = TaskRunDelivery.objects.get()
        assert (str(delivery.task_run_id), delivery.acknowledged is not None) == (scheduled["id"], True)

    def test_runs_go_out_one_at_a_time_oldest_first_each_after_the_previous_ack(self):
        first, second = delay(), delay()

        async def scenario():
            client = await subscribe()
            one = await receive_run(client)
            held_back = await nothing_arrives(client, 0.3)
            await ack(client)
            two = await receive_run(client)
            await ack(client)
            await client.disconnect()
            return one, held_back, two

        one, held_back, two = run(scenario())
        assert held_back
        assert [str(one.id), str(two.id)] == [first["id"], second["id"]]

    def test_only_deferred_scheduled_runs_of_the_subscribed_keys_are_sent(self):
        delay(MUL)
        delay(deferred=False, name="AwaitingRetry")  # a retry the worker itself is waiting on
        wanted = delay()

        async def scenario():
            client = await subscribe()
            received = await receive_run(client)
            await ack(client)
            quiet = await nothing_arrives(client)
            await client.disconnect()
            return received, quiet

        received, quiet = run(scenario())
        assert str(received.id) == wanted["id"] and quiet

    def test_runs_inside_a_flow_run_are_delivered_too(self):
        status, flow = api_post("/flows/", {"name": "parent"})
        status, flow_run = api_post("/flow_runs/", {"flow_id": flow["id"], "state": {"type": "RUNNING"}})
        assert status == 201, flow_run
        scheduled = delay(flow_run_id=flow_run["id"])

        async def scenario():
            client = await subscribe()
            received = await receive_run(client)
            await client.disconnect()
            return received

        assert str(run(scenario()).flow_run_id) == flow_run["id"] == scheduled["flow_run_id"]

    def test_a_run_scheduled_while_subscribed_arrives(self):
        async def scenario():
            client = await subscribe()
            quiet = await nothing_arrives(client, 0.2)
            scheduled = await in_db(delay)
            received = await receive_run(client)
            await client.disconnect()
            return quiet, scheduled, received

        quiet, scheduled, received = run(scenario())
        assert quiet and str(received.id) == scheduled["id"]


class TestClaims:
    def test_two_subscribers_never_get_the_same_run(self):
        first, second = delay(), delay()

        async def scenario():
            one, two = await subscribe(client_id="a"), await subscribe(client_id="b")
            got = [await receive_run(one), await receive_run(two)]
            await ack(one)
            await ack(two)
            quiet = await nothing_arrives(one) and await nothing_arrives(two, 0.1)
            await one.disconnect()
            await two.disconnect()
            return got, quiet

        got, quiet = run(scenario())
        assert sorted(str(received.id) for received in got) == sorted([first["id"], second["id"]])
        assert quiet

    def test_a_claim_holds_even_when_two_subscribers_read_the_same_candidate(self, monkeypatch):
        scheduled = delay()
        first, second = (task_workers.subscribe_task_worker(client_id=name, task_keys=[ADD]) for name in "ab")
        # Both read the run as waiting before either claimed it.
        everything = lambda keys, now: TaskRun.objects.filter(task_key__in=keys)  # noqa: E731
        monkeypatch.setattr(task_workers, "waiting_task_runs", everything)
        assert str(task_workers.claim_task_run(first).id) == scheduled["id"]
        assert task_workers.claim_task_run(second) is None
        assert TaskRunDelivery.objects.get().subscriber == first.id

    def test_a_run_sent_but_not_acknowledged_goes_to_the_next_subscriber_when_the_first_leaves(self):
        scheduled = delay()

        async def scenario():
            first = await subscribe(client_id="a")
            await receive_run(first)
            second = await subscribe(client_id="b")
            quiet = await nothing_arrives(second, 0.3)  # held by the first while it is connected
            await first.disconnect()
            again = await receive_run(second)
            await second.disconnect()
            return quiet, again

        quiet, again = run(scenario())
        assert quiet and str(again.id) == scheduled["id"]
        assert TaskRunDelivery.objects.get().deliveries == 2

    def test_an_acknowledged_run_its_worker_never_started_is_handed_out_after_a_grace(self, monkeypatch):
        monkeypatch.setattr(task_workers, "ACKNOWLEDGED_GRACE", timedelta(seconds=0.5))
        scheduled = delay()

        async def scenario():
            first = await subscribe(client_id="a")
            await receive_run(first)
            await ack(first)
            await asyncio.sleep(0.2)
            await first.disconnect()
            second = await subscribe(client_id="b")
            within_grace = await nothing_arrives(second, 0.2)
            again = await receive_run(second)
            await second.disconnect()
            return within_grace, again

        within_grace, again = run(scenario())
        assert within_grace and str(again.id) == scheduled["id"]

    def test_a_run_its_worker_started_is_not_handed_out_again(self, monkeypatch):
        monkeypatch.setattr(task_workers, "ACKNOWLEDGED_GRACE", timedelta(0))
        scheduled = delay()

        async def scenario():
            first = await subscribe(client_id="a")
            await receive_run(first)
            await ack(first)
            status, _ = await in_db(api_post, f"/task_runs/{scheduled['id']}/set_state", {
                "state": {"type": "PENDING", "state_details": {"deferred": True}}, "force": True,
            })
            await first.disconnect()
            second = await subscribe(client_id="b")
            quiet = await nothing_arrives(second)
            await second.disconnect()
            return status, quiet

        status, quiet = run(scenario())
        assert status == 201 and quiet

    def test_a_claim_left_by_a_dead_server_process_is_taken_over_when_its_lease_runs_out(self):
        scheduled = delay()
        run_row = TaskRun.objects.get(id=scheduled["id"])
        TaskRunDelivery.objects.create(
            state_id=run_row.state_id, task_run=run_row, subscriber=uuid.uuid4(),
            lease_until=timezone.now() + timedelta(seconds=0.5),
        )

        async def scenario():
            client = await subscribe()
            while_leased = await nothing_arrives(client, 0.3)
            received = await receive_run(client)
            await client.disconnect()
            return while_leased, received

        while_leased, received = run(scenario())
        assert while_leased and str(received.id) == scheduled["id"]
        assert TaskRunDelivery.objects.get().deliveries == 2

    def test_a_run_scheduled_again_is_delivered_again(self):
        scheduled = delay()

        async def scenario():
            client = await subscribe()
            await receive_run(client)
            await ack(client)
            status, _ = await in_db(api_post, f"/task_runs/{scheduled['id']}/set_state", {
                "state": {"type": "SCHEDULED", "state_details": {"deferred": True}}, "force": True,
            })
            again = await receive_run(client)
            await client.disconnect()
            return status, again

        status, again = run(scenario())
        assert status == 201 and str(again.id) == scheduled["id"]
        assert TaskRunDelivery.objects.count() == 2


class TestProtocol:
    @pytest.mark.parametrize("message, reason", [
        ({"type": "hello"}, "expected 'subscribe' message"),
        ({"type": "subscribe", "keys": [], "client_id": "a"}, "expected 'keys'"),
        ({"type": "subscribe", "keys": [ADD]}, "expected 'client_id'"),
        ({"type": "subscribe", "keys": "add", "client_id": "a"}, "expected 'keys'"),
    ])
    def test_a_bad_subscribe_message_closes_with_4001(self, message, reason):
        async def scenario():
            client = WebsocketClient(application, PATH, ("prefect",))
            await client.connect()
            await client.send_to(json.dumps({"type": "auth", "token": None}))
            await client.receive_from()
            await client.send_to(json.dumps(message))
            return await expect_close(client, 4001)

        assert reason in run(scenario())["reason"]
        assert not TaskWorker.objects.exists()

    def test_anything_but_an_ack_after_a_run_closes_with_4001_and_frees_the_run(self):
        delay()

        async def scenario():
            client = await subscribe()
            await receive_run(client)
            await client.send_to(json.dumps({"type": "nack"}))
            await expect_close(client, 4001)
            await client.disconnect()

        run(scenario())
        delivery = TaskRunDelivery.objects.get()
        assert delivery.acknowledged is None and delivery.lease_until <= timezone.now()

    def test_quit_closes_the_subscription(self):
        async def scenario():
            client = await subscribe()
            await client.send_to(json.dumps({"type": "quit"}))
            await expect_close(client, 1000)

        run(scenario())


class TestTaskWorkersFilter:
    def test_connected_workers_are_listed_and_filtered_by_task_key_and_leave_when_they_disconnect(self):
        async def scenario():
            one = await subscribe(keys=(ADD, MUL), client_id="host-1")
            two = await subscribe(keys=(MUL,), client_id="host-2")
            await asyncio.sleep(0.2)
            listed = await in_db(api_post, "/task_workers/filter", {})
            for_add = await in_db(api_post, "/task_workers/filter", {"task_worker_filter": {"task_keys": [ADD]}})
            await one.disconnect()
            after = await in_db(api_post, "/task_workers/filter", {})
            await two.disconnect()
            return listed, for_add, after

        listed, for_add, after = run(scenario())
        assert listed[0] == 200
        assert sorted((worker["identifier"], sorted(worker["task_keys"])) for worker in listed[1]) == [
            ("host-1", sorted([ADD, MUL])), ("host-2", [MUL]),
        ]
        assert [worker["identifier"] for worker in for_add[1]] == ["host-1"]
        assert [worker["identifier"] for worker in after[1]] == ["host-2"]
        assert not TaskWorker.objects.exists()

    def test_a_worker_left_behind_by_a_dead_process_is_not_listed(self):
        old = timezone.now() - task_workers.STALE_AFTER - timedelta(seconds=1)
        TaskWorker.objects.create(client_id="gone", task_keys=[ADD], connected=old, last_seen=old)
        TaskWorker.objects.create(client_id="here", task_keys=[ADD], connected=timezone.now(), last_seen=timezone.now())
        status, body = api_post("/task_workers/filter", {"task_worker_filter": None})
        assert status == 200 and [worker["identifier"] for worker in body] == ["here"]
        assert set(body[0]) == {"identifier", "task_keys", "timestamp"}

    def test_a_bad_filter_is_a_422(self):
        status, body = api_post("/task_workers/filter", {"task_worker_filter": {"task_keys": "add"}})
        assert status == 422, body

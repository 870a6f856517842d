"""The notifications page: each page and fragment, the editor's errors next to their fields, secrets
kept and never shown, pause/resume/delete/test in place, the delivery log, 404s and escaping.

Policies are made and deliveries sent through the notifications domain (real channels, a local
capture server), so the page is tested against what the rest of the app really writes."""

import re
import uuid

import pytest
from django.test import Client

from notifications import deliveries, policies, secrets
from notifications.channels import CHANNELS
from notifications.models import Delivery, NotificationPolicy
from tests.notifications.capture import CaptureServer
from tests.runs.views.conftest import Records

SLACK_SECRET = "T0001/B0002/s3cr3t-token-value"


class HtmxClient(Client):
    """Requests that look like HTMX swaps aimed at `target`."""

    def fragment(self, path, target="", data=None):
        return self.get(path, data, HTTP_HX_REQUEST="true", HTTP_HX_TARGET=target)

    def hx_post(self, path, data=None, target=""):
        return self.post(path, data or {}, HTTP_HX_REQUEST="true", HTTP_HX_TARGET=target)


@pytest.fixture
def client(db):
    return Client()


@pytest.fixture
def htmx(db):
    return HtmxClient()


@pytest.fixture
def capture():
    with CaptureServer() as server:
        yield server


@pytest.fixture
def slack_policy(db, capture):
    return policies.create_policy(
        name="Failures to #data", state_names=["Failed", "Crashed"], tags=["etl"], channel="slack",
        channel_config={"webhook_url": f"{capture.url}/services/{SLACK_SECRET}"},
    )


def stored_plain_config(policy) -> dict:
    policy.refresh_from_db()
    return secrets.decrypt_config(CHANNELS[policy.channel], policy.channel_config)


def field_block(html: str, input_name: str) -> str:
    """The .form-field block holding the input (or select/textarea) named `input_name`."""
    blocks = re.split(r'(?=<div class="form-field">)|(?=<fieldset class="state-picks)', html)
    for block in blocks:
        if f'name="{input_name}"' in block:
            return block
    raise AssertionError(f"No form field named {input_name!r} in the page")


def slack_form(**overrides) -> dict:
    data = {"name": "alerts", "channel": "slack", "state_names": ["Failed"], "tags": "etl, nightly",
            "message_template": "", "is_active": "on", "config.webhook_url": "https://hooks.slack.com/services/T/B/newtoken1"}
    data.update(overrides)
    return {key: value for key, value in data.items() if value is not None}


class TestPolicyListPage:
    def test_empty_state_and_the_nav_link(self, client):
        response = client.get("/notifications/")
        body = response.content.decode()
        assert response.status_code == 200
        assert "No notification policies yet." in body
        assert '<a href="/notifications/" aria-current="page">Notifications</a>' in body
        assert 'hx-get="/notifications/new/"' in body  # the "New policy" form opens in place

    def test_lists_each_policy_with_channel_states_tags_and_switch(self, client, slack_policy):
        body = client.get("/notifications/").content.decode()
        card = body[body.index(f'id="policy-{slack_policy.id}"'):]
        assert "Failures to #data" in card and "Slack" in card
        assert ">Failed</span>" in card and ">Crashed</span>" in card
        assert '<span class="tag">etl</span>' in card
        assert 'role="switch" aria-checked="true"' in card
        assert "none yet" in card  # no delivery so far
        assert f'hx-post="/notifications/{slack_policy.id}/pause/"' in card

    def test_htmx_gets_only_the_list_fragment(self, htmx, slack_policy):
        response = htmx.fragment("/notifications/", "policy-list")
        body = response.content.decode()
        assert response.status_code == 200
        assert body.lstrip().startswith('<div id="policy-list"')
        assert "<html" not in body and "Failures to #data" in body
        assert "HX-Target" in response.headers["Vary"]

    def test_secrets_are_never_in_the_page(self, client, slack_policy):
        for path in ("/notifications/", f"/notifications/{slack_policy.id}/", f"/notifications/{slack_policy.id}/?edit=1"):
            body = client.get(path).content.decode()
            assert "s3cr3t" not in body and SLACK_SECRET not in body, path

    def test_user_text_is_escaped(self, client, capture):
        policy = policies.create_policy(
            name="<script>alert(1)</script>", state_names=["Failed"], tags=["<b>x</b>"], channel="slack",
            message_template="<img src=x onerror=alert(2)> {flow_name}",
            channel_config={"webhook_url": f"{capture.url}/hook"},
        )
        for path in ("/notifications/", f"/notifications/{policy.id}/", f"/notifications/{policy.id}/?edit=1"):
            body = client.get(path).content.decode()
            assert "<script>alert(1)</script>" not in body and "&lt;script&gt;alert(1)&lt;/script&gt;" in body, path
            assert "<b>x</b>" not in body and "<img src=x" not in body, path


class TestNewPolicyForm:
    def test_htmx_gets_the_form_alone_with_the_channel_fields(self, htmx):
        body = htmx.fragment("/notifications/new/", "new-policy", {"channel": "slack"}).content.decode()
        assert "<html" not in body
        assert 'name="config.webhook_url"' in body and 'type="password"' in body
        assert 'hx-get="/notifications/channel-fields/"' in body
        # every known state is a checkbox; the template help lists the placeholders
        for name in policies.STATE_NAMES:
            assert f'name="state_names" value="{name}"' in body
        assert "{flow_run_name}" in body and "{run_url}" in body

    def test_without_htmx_the_page_opens_with_the_form(self, client):
        body = client.get("/notifications/new/").content.decode()
        assert "<html" in body and 'id="policy-form-new"' in body

    def test_fields_follow_the_chosen_channel(self, htmx):
        body = htmx.fragment("/notifications/channel-fields/", "channel-fields-new", {"channel": "twilio_sms"}).content.decode()
        assert body.lstrip().startswith('<fieldset id="channel-fields-new"')
        for name in ("account_sid", "auth_token", "from_number", "to_numbers"):
            assert f'name="config.{name}"' in body
        assert 'name="config.webhook_url"' not in body
        choice = htmx.fragment("/notifications/channel-fields/", "channel-fields-new", {"channel": "pagerduty"}).content.decode()
        assert "<select" in choice and "critical" in choice

    def test_every_channel_has_a_field_set(self, htmx):
        for key, channel in CHANNELS.items():
            body = htmx.fragment("/notifications/channel-fields/", "", {"channel": key}).content.decode()
            for field in channel.fields:
                assert f'name="config.{field.name}"' in body, (key, field.name)

    def test_an_unknown_channel_is_a_400_with_a_message(self, htmx):
        response = htmx.fragment("/notifications/channel-fields/", "", {"channel": "carrier-pigeon"})
        assert response.status_code == 400
        assert "Unknown channel" in response.content.decode()


class TestCreatePolicy:
    def test_created_in_place_and_the_list_is_refreshed(self, htmx):
        response = htmx.hx_post("/notifications/create/", slack_form(), target="policy-form-new")
        assert response.status_code == 200
        assert response.headers["HX-Retarget"] == "#policy-list" and response.headers["HX-Reswap"] == "outerHTML"
        policy = NotificationPolicy.objects.get()
        assert (policy.name, policy.channel, policy.state_names, policy.tags, policy.is_active) == (
            "alerts", "slack", ["Failed"], ["etl", "nightly"], True)
        assert stored_plain_config(policy) == {"webhook_url": "https://hooks.slack.com/services/T/B/newtoken1"}
        body = response.content.decode()
        assert f'id="policy-{policy.id}"' in body and "Created policy alerts." in body
        assert "newtoken1" not in body

    def test_without_htmx_it_redirects_with_a_message(self, client):
        response = client.post("/notifications/create/", slack_form(is_active=None), follow=True)
        assert response.redirect_chain == [("/notifications/", 302)]
        assert "Created policy alerts." in response.content.decode()
        assert NotificationPolicy.objects.get().is_active is False  # the box was left unticked

    def test_errors_are_shown_next_to_their_fields_and_nothing_is_saved(self, htmx):
        data = slack_form(state_names=None, **{"config.webhook_url": "not a url"})
        response = htmx.hx_post("/notifications/create/", data, target="policy-form-new")
        body = response.content.decode()
        assert response.status_code == 400
        assert "<html" not in body and body.lstrip().startswith('<form id="policy-form-new"')
        assert "Choose at least one state" in field_block(body, "state_names")
        assert "http:// or https://" in field_block(body, "config.webhook_url")
        assert 'value="alerts"' in body and 'value="etl, nightly"' in body  # what was typed stays
        assert not NotificationPolicy.objects.exists()

    def test_a_typed_secret_is_not_sent_back_with_the_errors(self, htmx):
        data = slack_form(state_names=None, **{"config.webhook_url": "https://hooks.slack.com/services/T/B/typedsecret9"})
        body = htmx.hx_post("/notifications/create/", data, target="policy-form-new").content.decode()
        assert "typedsecret9" not in body
        assert "Type the new value again" in field_block(body, "config.webhook_url")

    def test_an_unknown_placeholder_is_refused_next_to_the_template(self, client):
        response = client.post("/notifications/create/", slack_form(message_template="{flow_name} {nope}"))
        body = response.content.decode()
        assert response.status_code == 400 and "<html" in body  # a plain post gets the page back
        assert "{nope}" in field_block(body, "message_template")
        assert not NotificationPolicy.objects.exists()

    def test_a_missing_channel_setting_is_required(self, htmx):
        body = htmx.hx_post("/notifications/create/", slack_form(**{"config.webhook_url": ""})).content.decode()
        assert "This field is required." in field_block(body, "config.webhook_url")

    def test_an_unknown_channel_is_an_error_on_the_channel(self, htmx):
        response = htmx.hx_post("/notifications/create/", slack_form(channel="fax"))
        assert response.status_code == 400
        assert "Unknown channel" in field_block(response.content.decode(), "channel")


class TestEditPolicy:
    def test_the_card_turns_into_a_form_with_the_secret_masked(self, htmx, slack_policy, capture):
        body = htmx.fragment(f"/notifications/{slack_policy.id}/", f"policy-{slack_policy.id}", {"edit": "1"}).content.decode()
        assert body.lstrip().startswith(f'<article id="policy-{slack_policy.id}"')
        assert f'hx-post="/notifications/{slack_policy.id}/update/"' in body
        assert f'value="http://127.0.0.1/{secrets.MASK}"' in body
        assert SLACK_SECRET not in body
        assert 'value="etl"' in body and 'value="Failed" checked' in body

    def test_saving_with_the_mask_keeps_the_stored_secret(self, htmx, slack_policy, capture):
        original = stored_plain_config(slack_policy)
        data = slack_form(name="renamed", tags="", **{"config.webhook_url": f"http://127.0.0.1/{secrets.MASK}"})
        response = htmx.hx_post(f"/notifications/{slack_policy.id}/update/", data, target=f"policy-{slack_policy.id}")
        assert response.status_code == 200
        assert 'name="name"' not in response.content.decode()  # back to the card
        assert "Saved policy renamed." in response.content.decode()
        assert stored_plain_config(slack_policy) == original
        assert (slack_policy.name, slack_policy.tags) == ("renamed", [])

    def test_saving_with_the_secret_left_empty_keeps_it_too(self, htmx, slack_policy):
        original = stored_plain_config(slack_policy)
        htmx.hx_post(f"/notifications/{slack_policy.id}/update/", slack_form(**{"config.webhook_url": ""}))
        assert stored_plain_config(slack_policy) == original

    def test_a_new_secret_replaces_the_stored_one(self, client, slack_policy):
        response = client.post(f"/notifications/{slack_policy.id}/update/",
                               slack_form(**{"config.webhook_url": "https://hooks.slack.com/services/X/Y/other"}))
        assert response.status_code == 302
        assert stored_plain_config(slack_policy) == {"webhook_url": "https://hooks.slack.com/services/X/Y/other"}

    def test_an_invalid_edit_keeps_the_form_with_the_reasons(self, htmx, slack_policy):
        response = htmx.hx_post(f"/notifications/{slack_policy.id}/update/", slack_form(state_names=["Nope"]),
                                target=f"policy-{slack_policy.id}")
        body = response.content.decode()
        assert response.status_code == 400
        assert "Unknown state name" in field_block(body, "state_names")
        assert SLACK_SECRET not in body
        slack_policy.refresh_from_db()
        assert slack_policy.state_names == ["Failed", "Crashed"]

    def test_switching_channel_shows_the_new_fields_empty(self, htmx, slack_policy):
        body = htmx.fragment("/notifications/channel-fields/", f"channel-fields-{slack_policy.id}",
                             {"channel": "discord", "policy": str(slack_policy.id)}).content.decode()
        assert f'id="channel-fields-{slack_policy.id}"' in body and 'name="config.webhook_url"' in body
        assert "Stored as" not in body
        back = htmx.fragment("/notifications/channel-fields/", "", {"channel": "slack", "policy": str(slack_policy.id)})
        assert "Stored as" in back.content.decode() and SLACK_SECRET not in back.content.decode()


class TestPauseResumeDelete:
    def test_pause_and_resume_in_place(self, htmx, slack_policy):
        paused = htmx.hx_post(f"/notifications/{slack_policy.id}/pause/", target=f"policy-{slack_policy.id}")
        assert paused.status_code == 200
        assert 'aria-checked="false"' in paused.content.decode() and "is-paused" in paused.content.decode()
        assert f'hx-post="/notifications/{slack_policy.id}/resume/"' in paused.content.decode()
        slack_policy.refresh_from_db()
        assert slack_policy.is_active is False
        resumed = htmx.hx_post(f"/notifications/{slack_policy.id}/resume/", target=f"policy-{slack_policy.id}")
        assert 'aria-checked="true"' in resumed.content.decode()
        slack_policy.refresh_from_db()
        assert slack_policy.is_active is True

    def test_pause_without_htmx_redirects_with_a_message(self, client, slack_policy):
        response = client.post(f"/notifications/{slack_policy.id}/pause/", follow=True)
        assert response.redirect_chain == [("/notifications/", 302)]
        assert "sends nothing until it is resumed" in response.content.decode()

    def test_delete_asks_first_and_removes_the_card(self, client, htmx, slack_policy):
        page = client.get("/notifications/").content.decode()
        assert 'hx-confirm="Delete the policy' in page
        response = htmx.hx_post(f"/notifications/{slack_policy.id}/delete/", target=f"policy-{slack_policy.id}")
        assert response.status_code == 200 and response.content == b""
        assert not NotificationPolicy.objects.exists()
        assert client.get(f"/notifications/{slack_policy.id}/").status_code == 404

    def test_forms_need_the_csrf_token(self, db, slack_policy):
        strict = Client(enforce_csrf_checks=True)
        assert strict.post(f"/notifications/{slack_policy.id}/delete/").status_code == 403
        assert strict.post("/notifications/create/", slack_form()).status_code == 403
        assert NotificationPolicy.objects.count() == 1

    def test_get_is_refused_on_actions(self, client, slack_policy):
        assert client.get(f"/notifications/{slack_policy.id}/pause/").status_code == 405


class TestSendTestMessage:
    def test_queued_then_followed_until_sent(self, htmx, slack_policy, capture):
        response = htmx.hx_post(f"/notifications/{slack_policy.id}/test/", target=f"policy-{slack_policy.id}")
        body = response.content.decode()
        delivery = Delivery.objects.get(policy=slack_policy, is_test=True)
        assert "Sending the test message" in body
        result_url = f"/notifications/{slack_policy.id}/test/{delivery.id}/"
        assert f'hx-get="{result_url}"' in body
        assert deliveries.send_delivery(delivery.id, allow_sleep=False) == "SENT"
        assert capture.requests[0].route == f"/services/{SLACK_SECRET}"
        result = htmx.fragment(result_url).content.decode()
        assert "Test message sent (HTTP 200)." in result and "hx-get" not in result  # no more polling

    def test_a_refused_test_message_says_why(self, htmx, slack_policy, capture):
        capture.respond("/services/", [(400, {}, "invalid_payload <b>bold</b>")])
        htmx.hx_post(f"/notifications/{slack_policy.id}/test/")
        delivery = Delivery.objects.get(policy=slack_policy, is_test=True)
        deliveries.send_delivery(delivery.id, allow_sleep=False)
        result = htmx.fragment(f"/notifications/{slack_policy.id}/test/{delivery.id}/").content.decode()
        assert "The test message failed (HTTP 400)" in result
        assert SLACK_SECRET not in result
        log = htmx.fragment(f"/notifications/{slack_policy.id}/deliveries/", f"deliveries-{slack_policy.id}").content.decode()
        assert "invalid_payload &lt;b&gt;bold&lt;/b&gt;" in log and "<b>bold</b>" not in log

    def test_without_htmx_it_redirects_to_the_policy_page(self, client, slack_policy):
        response = client.post(f"/notifications/{slack_policy.id}/test/", follow=True)
        assert response.redirect_chain == [(f"/notifications/{slack_policy.id}/", 302)]
        assert "Test message queued" in response.content.decode()
        assert "test message" in response.content.decode()  # the log lists it

    def test_unknown_test_message_is_404(self, htmx, slack_policy):
        assert htmx.fragment(f"/notifications/{slack_policy.id}/test/{uuid.uuid4()}/").status_code == 404


class TestDeliveryLog:
    def test_a_failed_run_appears_with_its_attempts(self, htmx, slack_policy, capture):
        records = Records()
        run = records.flow_run(records.flow("nightly-<etl>"), states=("RUNNING", "FAILED"), tags=["etl"], name="run-<i>1</i>")
        delivery = Delivery.objects.get(policy=slack_policy)
        pending = htmx.fragment(f"/notifications/{slack_policy.id}/deliveries/", f"deliveries-{slack_policy.id}").content.decode()
        assert pending.lstrip().startswith(f'<div id="deliveries-{slack_policy.id}"')
        assert 'hx-trigger="every 2s"' in pending  # followed closely while pending
        assert ">Pending</span>" in pending and "not tried yet" in pending
        assert f'href="/runs/{run.id}/"' in pending
        assert "run-&lt;i&gt;1&lt;/i&gt;" in pending and "<i>1</i>" not in pending

        capture.respond("/services/", [(500, {}, "upstream down"), (200, {}, "ok")])
        assert deliveries.send_delivery(delivery.id, allow_sleep=False) == "PENDING"
        delivery.refresh_from_db()
        Delivery.objects.filter(pk=delivery.pk).update(next_attempt_at=None)  # due now, no waiting for the backoff
        assert deliveries.send_delivery(delivery.id, allow_sleep=False) == "SENT"
        log = htmx.fragment(f"/notifications/{slack_policy.id}/deliveries/", f"deliveries-{slack_policy.id}").content.decode()
        assert ">Sent</span>" in log and 'hx-trigger="every 10s"' in log
        # the card's "last delivery" follows the polled log out of band
        oob = log[log.index(f'<dd id="last-delivery-{slack_policy.id}"'):]
        assert 'hx-swap-oob="true"' in oob.split(">")[0] and ">Sent</span>" in oob
        assert "#1" in log and "HTTP 500" in log and "upstream down" in log
        assert "#2" in log and "HTTP 200" in log
        assert SLACK_SECRET not in log

        page = htmx.get("/notifications/").content.decode()
        card = page[page.index(f'id="policy-{slack_policy.id}"'):]
        last = card[card.index("Last delivery"):card.index("</dd>", card.index("Last delivery"))]
        assert ">Sent</span>" in last

    def test_runs_without_the_tag_or_state_are_not_logged(self, htmx, slack_policy):
        records = Records()
        records.flow_run(states=("RUNNING", "FAILED"), tags=["other"])
        records.flow_run(states=("RUNNING", "COMPLETED"), tags=["etl"])
        log = htmx.fragment(f"/notifications/{slack_policy.id}/deliveries/", f"deliveries-{slack_policy.id}").content.decode()
        assert "No messages yet." in log

    def test_the_policy_page_shows_its_log(self, client, slack_policy):
        Records().flow_run(states=("RUNNING", "CRASHED"), tags=["etl"])
        body = client.get(f"/notifications/{slack_policy.id}/").content.decode()
        assert "<html" in body and "Delivery log" in body and ">Pending</span>" in body
        assert f'hx-get="/notifications/{slack_policy.id}/deliveries/?limit=100"' in body

    def test_without_htmx_the_log_url_leads_to_the_policy_page(self, client, slack_policy):
        response = client.get(f"/notifications/{slack_policy.id}/deliveries/")
        assert response.status_code == 302 and response.url == f"/notifications/{slack_policy.id}/"

    def test_a_bad_limit_is_a_400(self, htmx, slack_policy):
        for limit in ("x", "0", "1000"):
            response = htmx.fragment(f"/notifications/{slack_policy.id}/deliveries/", "", {"limit": limit})
            assert response.status_code == 400, limit
            assert "limit" in response.content.decode()


class TestUnknownPolicy:
    @pytest.mark.parametrize("method,suffix", [
        ("get", ""), ("get", "?edit=1"), ("get", "deliveries/"), ("post", "update/"), ("post", "pause/"),
        ("post", "resume/"), ("post", "delete/"), ("post", "test/"),
    ])
    def test_is_404(self, client, htmx, method, suffix):
        path = f"/notifications/{uuid.uuid4()}/{suffix}"
        page = getattr(client, method)(path)
        assert page.status_code == 404 and "not found" in page.content.decode().lower()
        fragment = getattr(htmx, method)(path, HTTP_HX_REQUEST="true")
        assert fragment.status_code == 404 and "<html" not in fragment.content.decode()

    def test_channel_fields_for_an_unknown_policy_is_404(self, htmx):
        response = htmx.fragment("/notifications/channel-fields/", "", {"channel": "slack", "policy": str(uuid.uuid4())})
        assert response.status_code == 404

    def test_a_malformed_policy_id_for_channel_fields_is_400(self, htmx):
        response = htmx.fragment("/notifications/channel-fields/", "", {"channel": "slack", "policy": "nope"})
        assert response.status_code == 400 and "not a policy id" in response.content.decode()

    def test_a_malformed_id_is_404(self, client):
        assert client.get("/notifications/not-a-uuid/").status_code == 404


def test_the_list_costs_the_same_queries_however_many_policies_it_shows(client, capture):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    def add_policies_with_deliveries(count):
        for number in range(count):
            policy = policies.create_policy(
                name=f"p{number}-{uuid.uuid4().hex[:6]}", state_names=["Failed"], channel="slack",
                channel_config={"webhook_url": f"{capture.url}/services/x"},
            )
            for _ in range(7):  # more than the list shows per policy
                Delivery.objects.create(policy=policy, body="b", subject="s")

    def queries_for_the_list():
        with CaptureQueriesContext(connection) as captured:
            assert client.get("/notifications/").status_code == 200
        return len(captured)

    add_policies_with_deliveries(2)
    few = queries_for_the_list()
    add_policies_with_deliveries(8)
    assert queries_for_the_list() == few
    page = client.get("/notifications/").content.decode()
    assert page.count('<tr class="delivery"') == 10 * 5  # the newest five of each policy

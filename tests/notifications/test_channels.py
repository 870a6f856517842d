"""The nine channels: what clean() accepts and refuses, and exactly what requests_for() sends.

The last part of each class sends the requests through the local capture server, so what is checked
is what reaches the wire (form encoding, Basic auth, JSON), not only the OutgoingRequest object.
"""

import base64
import json
from dataclasses import replace

import pytest
from django.conf import settings
from django.test import override_settings

from notifications.channels import CHANNELS, Channel, ConfigError, Message
from orchestrator_site.config import Setting

from .capture import CaptureServer

RUN_URL = "http://127.0.0.1:4200/runs/flow-run/4d1b3c7e-0000-4000-8000-000000000001"
MESSAGE = Message(
    key="delivery-8f0c",
    subject="Flow run daily-etl/fuzzy-leopard entered Failed",
    body=(
        "The fuzzy-leopard run of the daily-etl flow entered a failed state at 2026-06-27 16:21:37 UTC.\n"
        f"View the run: {RUN_URL}"
    ),
    run_url=RUN_URL,
    state_type="FAILED",
    state_name="Failed",
    flow_run_id="4d1b3c7e-0000-4000-8000-000000000001",
    flow_run_name="fuzzy-leopard",
    flow_name="daily-etl",
    tags=("etl", "nightly"),
    placeholders={
        "flow_run_name": "fuzzy-leopard",
        "flow_run_id": "4d1b3c7e-0000-4000-8000-000000000001",
        "flow_name": "daily-etl",
        "state_name": "Failed",
        "state_type": "FAILED",
        "state_message": 'Flow run encountered an exception: ValueError("bad \\"row\\"")',
        "timestamp": "2026-06-27 16:21:37 UTC",
        "tags": "etl, nightly",
        "run_url": RUN_URL,
    },
)
ACCOUNT_SID = "AC" + "0123456789abcdef" * 2
ROUTING_KEY = "R0UT1NGKEY" + "a" * 22


def base_urls(url: str, *names: str):
    """settings.PREFECT with the named service base URLs replaced (a copy: the dict is shared)."""
    prefect = dict(settings.PREFECT)
    for name in names:
        prefect[name] = Setting(url, "env", name)
    return override_settings(PREFECT=prefect)


def errors_of(channel: Channel, config) -> dict[str, str]:
    with pytest.raises(ConfigError) as caught:
        channel.clean(config)
    return caught.value.errors


@pytest.fixture(scope="module")
def capture():
    with CaptureServer() as server:
        yield server


@pytest.fixture
def sent(capture):
    """Send a channel's requests to the capture server; return what it received."""

    def send(channel: Channel, config: dict, message: Message = MESSAGE):
        capture.clear()
        for outgoing in channel.requests_for(message, config):
            response = Channel.send_one(outgoing)
            assert response.status_code == 200
        return list(capture.requests)

    return send


def test_every_channel_is_registered_under_its_key():
    assert sorted(CHANNELS) == sorted([
        "webhook", "discord", "mattermost", "microsoft_teams", "opsgenie", "pagerduty",
        "sendgrid_email", "slack", "twilio_sms",
    ])
    for key, channel in CHANNELS.items():
        assert channel.key == key and channel.label
        assert {f.kind for f in channel.fields} <= {"text", "url", "choice", "list", "json", "textarea"}
        names = [f.name for f in channel.fields]
        assert len(names) == len(set(names))


@pytest.mark.parametrize("key", sorted(CHANNELS))
def test_every_channel_refuses_a_config_that_is_not_an_object(key):
    assert errors_of(CHANNELS[key], ["not", "an", "object"]) == {
        "channel_config": "Must be a JSON object of the channel's fields."
    }


@pytest.mark.parametrize("key", sorted(CHANNELS))
def test_every_channel_names_each_missing_required_field(key):
    channel = CHANNELS[key]
    required = {f.name for f in channel.fields if f.required}
    assert required
    assert errors_of(channel, {}) == {name: "This field is required." for name in required}


@pytest.mark.parametrize("key", sorted(CHANNELS))
def test_every_channel_refuses_an_unknown_field(key):
    errors = errors_of(CHANNELS[key], {"colour": "red"})
    assert errors["colour"].startswith("Unknown field; this channel takes: ")


@pytest.mark.parametrize("key", sorted(CHANNELS))
def test_secret_fields_are_declared(key):
    # The domain masks and encrypts these; every channel has at least one credential or secret URL.
    assert CHANNELS[key].secret_fields()


class TestWebhook:
    channel = CHANNELS["webhook"]

    def test_clean_fills_in_the_defaults(self):
        config = self.channel.clean({"url": " https://example.com/hook?token=abc "})
        assert config["url"] == "https://example.com/hook?token=abc"
        assert config["method"] == "POST"
        assert json.loads(config["body"])["flow_name"] == "{flow_name}"
        assert "headers" not in config
        assert {"url", "headers"} <= set(self.channel.secret_fields())

    def test_clean_accepts_headers_as_text_or_object_and_a_method_in_any_case(self):
        config = self.channel.clean({"url": "http://h/x", "method": "put", "headers": '{"X-Token": "t"}'})
        assert config["method"] == "PUT" and config["headers"] == {"X-Token": "t"}
        assert self.channel.clean({"url": "http://h/x", "headers": {"X-Token": "t"}})["headers"] == {"X-Token": "t"}

    @pytest.mark.parametrize("config, field, message", [
        ({"url": "ftp://example.com/x"}, "url", "Enter a full http:// or https:// URL, with its host."),
        ({"url": "https:///path-only"}, "url", "Enter a full http:// or https:// URL, with its host."),
        ({"url": "example.com/hook"}, "url", "Enter a full http:// or https:// URL, with its host."),
        ({"url": "http://h/x", "method": "GET"}, "method", "Choose one of: POST, PUT, PATCH."),
        ({"url": "http://h/x", "headers": "{nope"}, "headers", "Not valid JSON: "),
        ({"url": "http://h/x", "headers": '["X-A"]'}, "headers", "Must be a JSON object of header names"),
        ({"url": "http://h/x", "headers": {"X A": "1"}}, "headers", "'X A' is not a valid header name."),
        ({"url": "http://h/x", "headers": {"X-A": 1}}, "headers", "The value of X-A must be text."),
        ({"url": "http://h/x", "headers": {"X-A": "a\r\nB: c"}}, "headers", "cannot contain a line break"),
        ({"url": "http://h/x", "headers": {"Idempotency-Key": "x"}}, "headers", "is set by the server"),
        ({"url": "http://h/x", "body": '{"text": "{flow}", "x": "{nope}"}'}, "body",
         "Unknown placeholders: {flow}, {nope}. Known: {subject}, {body}, {flow_run_name}"),
        ({"url": "http://h/x", "body": '{"text": {flow_name}}'}, "body", "Not valid JSON once placeholders"),
    ])
    def test_clean_refuses_with_a_message_for_the_field(self, config, field, message):
        errors = errors_of(self.channel, config)
        assert list(errors) == [field]
        assert message in errors[field]

    def test_requests_for_substitutes_json_escaped_values_and_sends_the_idempotency_key(self):
        config = self.channel.clean({
            "url": "https://example.com/hook", "method": "PATCH", "headers": {"Authorization": "Bearer s3cret"},
            "body": '{"text": "{flow_name} is {state_name}: {state_message}", "link": "{run_url}", "all": "{body}"}',
        })
        [outgoing] = self.channel.requests_for(MESSAGE, config)
        assert (outgoing.method, outgoing.url) == ("PATCH", "https://example.com/hook")
        assert outgoing.headers == {
            "Content-Type": "application/json", "Authorization": "Bearer s3cret", "Idempotency-Key": "delivery-8f0c",
        }
        assert json.loads(outgoing.data) == {
            "text": 'daily-etl is Failed: Flow run encountered an exception: ValueError("bad \\"row\\"")',
            "link": RUN_URL,
            "all": MESSAGE.body,
        }

    def test_the_default_body_is_an_object_of_the_message_fields(self):
        [outgoing] = self.channel.requests_for(MESSAGE, self.channel.clean({"url": "https://example.com/hook"}))
        body = json.loads(outgoing.data)
        assert body["subject"] == MESSAGE.subject and body["body"] == MESSAGE.body
        assert {name: body[name] for name in MESSAGE.placeholders} == MESSAGE.placeholders

    def test_on_the_wire(self, capture, sent):
        config = self.channel.clean({"url": capture.url + "/hooks/abc?token=t", "method": "PUT",
                                     "headers": {"X-Token": "t0k"}, "body": '{"run": "{flow_run_name}"}'})
        [request] = sent(self.channel, config)
        assert (request.method, request.path) == ("PUT", "/hooks/abc?token=t")
        assert request.header("Idempotency-Key") == "delivery-8f0c"
        assert request.header("X-Token") == "t0k"
        assert request.header("Content-Type") == "application/json"
        assert request.json == {"run": "fuzzy-leopard"}

    def test_non_ascii_values_arrive_as_utf8_json(self, capture, sent):
        config = self.channel.clean({"url": capture.url + "/hooks/utf8", "body": '{"flow": "{flow_name}"}'})
        message = replace(MESSAGE, flow_name="étl-日次 ✓", placeholders={**MESSAGE.placeholders, "flow_name": "étl-日次 ✓"})
        [request] = sent(self.channel, config, message)
        assert request.json == {"flow": "étl-日次 ✓"}


class TestChatWebhooks:
    @pytest.mark.parametrize("key", ["discord", "mattermost", "microsoft_teams", "slack"])
    def test_the_webhook_url_is_required_secret_and_checked(self, key):
        channel = CHANNELS[key]
        assert channel.secret_fields() == ["webhook_url"]
        assert channel.base_url_setting is None
        assert errors_of(channel, {"webhook_url": "hooks.example.com/x"}) == {
            "webhook_url": "Enter a full http:// or https:// URL, with its host."
        }
        assert errors_of(channel, {"webhook_url": ["a"]}) == {"webhook_url": "Must be text."}
        assert channel.clean({"webhook_url": "https://hooks.example.com/x"})["webhook_url"] == "https://hooks.example.com/x"

    def test_discord_sends_content_within_2000_characters_and_pings_nobody(self):
        channel = CHANNELS["discord"]
        config = channel.clean({"webhook_url": "https://discord.com/api/webhooks/1/tok", "username": "Prefect"})
        [outgoing] = channel.requests_for(MESSAGE, config)
        assert (outgoing.method, outgoing.url) == ("POST", "https://discord.com/api/webhooks/1/tok")
        assert outgoing.json == {"content": MESSAGE.body, "allowed_mentions": {"parse": []}, "username": "Prefect"}
        [long] = channel.requests_for(replace(MESSAGE, body="x" * 5000), config)
        assert len(long.json["content"]) == 2000 and long.json["content"].endswith("\u2026")

    def test_mattermost_sends_text_and_the_optional_overrides(self):
        channel = CHANNELS["mattermost"]
        [plain] = channel.requests_for(MESSAGE, channel.clean({"webhook_url": "https://chat.example.com/hooks/k"}))
        assert plain.json == {"text": MESSAGE.body}
        config = channel.clean({"webhook_url": "https://chat.example.com/hooks/k", "channel": "alerts", "username": "bot"})
        [outgoing] = channel.requests_for(MESSAGE, config)
        assert (outgoing.method, outgoing.url) == ("POST", "https://chat.example.com/hooks/k")
        assert outgoing.json == {"text": MESSAGE.body, "channel": "alerts", "username": "bot"}

    def test_teams_sends_an_adaptive_card_message(self):
        channel = CHANNELS["microsoft_teams"]
        [outgoing] = channel.requests_for(MESSAGE, channel.clean({"webhook_url": "https://example.webhook.office.com/x"}))
        assert outgoing.json == {
            "type": "message",
            "attachments": [{
                "contentType": "application/vnd.microsoft.card.adaptive",
                "contentUrl": None,
                "content": {
                    "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
                    "type": "AdaptiveCard",
                    "version": "1.2",
                    "body": [
                        {"type": "TextBlock", "text": MESSAGE.subject, "weight": "Bolder", "size": "Medium", "wrap": True},
                        {"type": "TextBlock", "text": MESSAGE.body, "wrap": True},
                    ],
                    "actions": [{"type": "Action.OpenUrl", "title": "View the flow run", "url": RUN_URL}],
                },
            }],
        }

    def test_slack_escapes_control_characters_and_links_the_run(self):
        channel = CHANNELS["slack"]
        config = channel.clean({"webhook_url": "https://hooks.slack.com/services/T/B/X"})
        [outgoing] = channel.requests_for(MESSAGE, config)
        assert outgoing.json == {"text": MESSAGE.body.replace(RUN_URL, f"<{RUN_URL}|fuzzy-leopard>")}
        custom = replace(MESSAGE, body="a <b> & c")  # a template without the link: it is added
        [outgoing] = channel.requests_for(custom, config)
        assert outgoing.json == {"text": f"a &lt;b&gt; &amp; c\n<{RUN_URL}|fuzzy-leopard>"}

    @pytest.mark.parametrize("key", ["discord", "mattermost", "microsoft_teams", "slack"])
    def test_on_the_wire(self, key, capture, sent):
        channel = CHANNELS[key]
        [request] = sent(channel, channel.clean({"webhook_url": f"{capture.url}/{key}/secret-token"}))
        assert (request.method, request.path) == ("POST", f"/{key}/secret-token")
        assert request.header("Content-Type") == "application/json"
        assert request.json == channel.requests_for(MESSAGE, {"webhook_url": "x"})[0].json


class TestOpsgenie:
    channel = CHANNELS["opsgenie"]

    def test_clean(self):
        assert self.channel.clean({"api_key": "k-1"}) == {"api_key": "k-1", "region": "us"}
        assert self.channel.clean({"api_key": "k", "region": "EU", "priority": "p2"}) == {
            "api_key": "k", "region": "eu", "priority": "P2"
        }
        assert errors_of(self.channel, {"api_key": "a b", "region": "asia", "priority": "P9"}) == {
            "api_key": "An API key has no spaces; paste it again.",
            "region": "Choose one of: us, eu.",
            "priority": "Choose one of: P1, P2, P3, P4, P5.",
        }

    def test_requests_for_creates_an_alert_at_the_regions_url(self):
        with base_urls("http://us.test", "PREFECT_NOTIFICATIONS_OPSGENIE_URL"), \
                base_urls("http://eu.test/", "PREFECT_NOTIFICATIONS_OPSGENIE_EU_URL"):
            [us] = self.channel.requests_for(MESSAGE, self.channel.clean({"api_key": "gk", "priority": "P1"}))
            [eu] = self.channel.requests_for(MESSAGE, self.channel.clean({"api_key": "gk", "region": "eu"}))
        assert (us.method, us.url, eu.url) == ("POST", "http://us.test/v2/alerts", "http://eu.test/v2/alerts")
        assert us.headers == {"Authorization": "GenieKey gk"}
        assert us.json == {
            "message": MESSAGE.subject,
            "alias": "delivery-8f0c",
            "description": MESSAGE.body,
            "tags": ["etl", "nightly"],
            "details": {
                "flow_name": "daily-etl", "flow_run_name": "fuzzy-leopard",
                "flow_run_id": MESSAGE.flow_run_id, "state_name": "Failed", "run_url": RUN_URL,
            },
            "entity": "daily-etl",
            "source": "Orchestrator",
            "priority": "P1",
        }
        assert "priority" not in eu.json

    def test_the_documented_limits_hold(self):
        long = replace(MESSAGE, subject="s" * 300, tags=tuple(f"{i}" + "t" * 60 for i in range(30)))
        [outgoing] = self.channel.requests_for(long, {"api_key": "k", "region": "us"})
        assert len(outgoing.json["message"]) == 130
        assert len(outgoing.json["tags"]) == 20 and all(len(tag) <= 50 for tag in outgoing.json["tags"])

    def test_the_default_base_url_is_the_documented_one(self):
        assert settings.PREFECT["PREFECT_NOTIFICATIONS_OPSGENIE_URL"].value == "https://api.opsgenie.com"
        assert settings.PREFECT["PREFECT_NOTIFICATIONS_OPSGENIE_EU_URL"].value == "https://api.eu.opsgenie.com"

    def test_on_the_wire(self, capture, sent):
        with base_urls(capture.url, "PREFECT_NOTIFICATIONS_OPSGENIE_URL"):
            [request] = sent(self.channel, self.channel.clean({"api_key": "genie-123"}))
        assert (request.method, request.path) == ("POST", "/v2/alerts")
        assert request.header("Authorization") == "GenieKey genie-123"
        assert request.json["alias"] == "delivery-8f0c"


class TestPagerDuty:
    channel = CHANNELS["pagerduty"]

    def test_clean(self):
        assert self.channel.clean({"routing_key": ROUTING_KEY}) == {"routing_key": ROUTING_KEY, "severity": "error"}
        assert errors_of(self.channel, {"routing_key": "short", "severity": "fatal"}) == {
            "routing_key": "A routing key is the 32-character Integration Key (letters and digits) "
                           "of an Events API v2 integration.",
            "severity": "Choose one of: critical, error, warning, info.",
        }

    def test_requests_for_enqueues_a_trigger_event(self):
        with base_urls("http://pd.test", "PREFECT_NOTIFICATIONS_PAGERDUTY_URL"):
            [outgoing] = self.channel.requests_for(
                MESSAGE, self.channel.clean({"routing_key": ROUTING_KEY, "severity": "critical"})
            )
        assert (outgoing.method, outgoing.url, outgoing.headers) == ("POST", "http://pd.test/v2/enqueue", {})
        assert outgoing.json == {
            "routing_key": ROUTING_KEY,
            "event_action": "trigger",
            "dedup_key": "delivery-8f0c",
            "payload": {
                "summary": MESSAGE.subject,
                "source": "daily-etl",
                "severity": "critical",
                "component": "fuzzy-leopard",
                "class": "Failed",
                "custom_details": {
                    "message": MESSAGE.body, "flow_name": "daily-etl", "flow_run_name": "fuzzy-leopard",
                    "flow_run_id": MESSAGE.flow_run_id, "state_name": "Failed", "state_type": "FAILED",
                    "tags": ["etl", "nightly"],
                },
            },
            "client": "Orchestrator",
            "client_url": RUN_URL,
            "links": [{"href": RUN_URL, "text": "View the flow run"}],
        }

    def test_the_summary_stays_within_1024_characters(self):
        [outgoing] = self.channel.requests_for(replace(MESSAGE, subject="s" * 2000), {"routing_key": ROUTING_KEY})
        assert len(outgoing.json["payload"]["summary"]) == 1024

    def test_on_the_wire(self, capture, sent):
        with base_urls(capture.url, "PREFECT_NOTIFICATIONS_PAGERDUTY_URL"):
            [request] = sent(self.channel, self.channel.clean({"routing_key": ROUTING_KEY}))
        assert (request.method, request.path) == ("POST", "/v2/enqueue")
        assert request.header("Content-Type") == "application/json"
        assert request.json["routing_key"] == ROUTING_KEY and request.json["dedup_key"] == "delivery-8f0c"


class TestSendGrid:
    channel = CHANNELS["sendgrid_email"]
    config = {"api_key": "SG.key", "sender": "alerts@example.com", "recipients": "a@example.com,\n b@example.org"}

    def test_clean_accepts_recipients_as_text_or_a_list(self):
        cleaned = self.channel.clean(self.config)
        assert cleaned == {"api_key": "SG.key", "sender": "alerts@example.com",
                           "recipients": ["a@example.com", "b@example.org"]}
        assert self.channel.clean({**self.config, "recipients": ["c@example.com"]})["recipients"] == ["c@example.com"]

    def test_clean_refuses_bad_addresses(self):
        errors = errors_of(self.channel, {"api_key": "k", "sender": "alerts", "recipients": "a@example.com, nope@"})
        assert errors == {
            "sender": "'alerts' is not an email address (expected name@example.com).",
            "recipients": "'nope@' is not an email address (expected name@example.com).",
        }
        assert errors_of(self.channel, {**self.config, "recipients": " , \n"}) == {"recipients": "This field is required."}
        assert errors_of(self.channel, {**self.config, "recipients": [1, 2]}) == {
            "recipients": "Must be a list of text items."
        }

    def test_requests_for_sends_one_plain_text_mail_with_a_personalization_per_recipient(self):
        with base_urls("http://sg.test", "PREFECT_NOTIFICATIONS_SENDGRID_URL"):
            [outgoing] = self.channel.requests_for(MESSAGE, self.channel.clean(self.config))
        assert (outgoing.method, outgoing.url) == ("POST", "http://sg.test/v3/mail/send")
        assert outgoing.headers == {"Authorization": "Bearer SG.key"}
        assert outgoing.json == {
            "personalizations": [{"to": [{"email": "a@example.com"}]}, {"to": [{"email": "b@example.org"}]}],
            "from": {"email": "alerts@example.com"},
            "subject": MESSAGE.subject,
            "content": [{"type": "text/plain", "value": MESSAGE.body}],
        }

    def test_the_subject_is_one_line(self):
        [outgoing] = self.channel.requests_for(replace(MESSAGE, subject="a\r\nBcc: x"), self.channel.clean(self.config))
        assert outgoing.json["subject"] == "a Bcc: x"

    def test_on_the_wire(self, capture, sent):
        with base_urls(capture.url, "PREFECT_NOTIFICATIONS_SENDGRID_URL"):
            [request] = sent(self.channel, self.channel.clean(self.config))
        assert (request.method, request.path) == ("POST", "/v3/mail/send")
        assert request.header("Authorization") == "Bearer SG.key"
        assert request.json["content"] == [{"type": "text/plain", "value": MESSAGE.body}]


class TestTwilio:
    channel = CHANNELS["twilio_sms"]
    config = {"account_sid": ACCOUNT_SID, "auth_token": "tok", "from_number": "+14155550100",
              "to_numbers": "+14155550123\n+447700900123"}

    def test_clean(self):
        assert self.channel.clean(self.config)["to_numbers"] == ["+14155550123", "+447700900123"]

    @pytest.mark.parametrize("field, value, message", [
        ("account_sid", "AC123", "An Account SID is AC followed by 32 hexadecimal characters."),
        ("from_number", "4155550100", "'4155550100' is not an E.164 phone number"),
        ("to_numbers", "+14155550123, +1 415 555 0199", "'+1 415 555 0199' is not an E.164 phone number"),
        ("to_numbers", "+0123456789", "'+0123456789' is not an E.164 phone number"),
    ])
    def test_clean_refuses(self, field, value, message):
        errors = errors_of(self.channel, {**self.config, field: value})
        assert list(errors) == [field] and errors[field].startswith(message)

    def test_requests_for_sends_one_form_post_per_number(self):
        with base_urls("http://tw.test", "PREFECT_NOTIFICATIONS_TWILIO_URL"):
            outgoing = self.channel.requests_for(MESSAGE, self.channel.clean(self.config))
        assert [(o.method, o.url, o.auth, o.json) for o in outgoing] == [
            ("POST", f"http://tw.test/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json", (ACCOUNT_SID, "tok"), None)
        ] * 2
        assert [o.data for o in outgoing] == [
            {"To": "+14155550123", "From": "+14155550100", "Body": MESSAGE.body},
            {"To": "+447700900123", "From": "+14155550100", "Body": MESSAGE.body},
        ]

    def test_a_long_message_becomes_its_subject_and_the_link(self):
        [outgoing, _] = self.channel.requests_for(replace(MESSAGE, body="x" * 1000), self.channel.clean(self.config))
        assert outgoing.data["Body"] == f"{MESSAGE.subject}\n{RUN_URL}"

    def test_on_the_wire(self, capture, sent):
        with base_urls(capture.url, "PREFECT_NOTIFICATIONS_TWILIO_URL"):
            first, second = sent(self.channel, self.channel.clean(self.config))
        assert (first.method, first.path) == ("POST", f"/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json")
        assert first.header("Content-Type") == "application/x-www-form-urlencoded"
        assert first.header("Authorization") == "Basic " + base64.b64encode(f"{ACCOUNT_SID}:tok".encode()).decode()
        assert first.form == {"To": ["+14155550123"], "From": ["+14155550100"], "Body": [MESSAGE.body]}
        assert second.form["To"] == ["+447700900123"]


@pytest.mark.parametrize("key, config, url", [
    ("opsgenie", {"api_key": "k"}, "https://api.opsgenie.com/v2/alerts"),
    ("opsgenie", {"api_key": "k", "region": "eu"}, "https://api.eu.opsgenie.com/v2/alerts"),
    ("pagerduty", {"routing_key": ROUTING_KEY}, "https://events.pagerduty.com/v2/enqueue"),
    ("sendgrid_email", TestSendGrid.config, "https://api.sendgrid.com/v3/mail/send"),
    ("twilio_sms", TestTwilio.config, f"https://api.twilio.com/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json"),
])
def test_the_default_base_urls_reach_the_real_services(key, config, url):
    channel = CHANNELS[key]
    assert settings.PREFECT[channel.base_url_setting].source == "default" or pytest.skip("a base URL is configured")
    assert {o.url for o in channel.requests_for(MESSAGE, channel.clean(config))} == {url}


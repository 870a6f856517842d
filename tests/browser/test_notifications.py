"""A Slack policy made through the notifications page in Chromium, against the real server (whose
django-q2 cluster sends the messages) and a local capture server standing in for Slack: a failing
tagged flow run by the real prefect client is delivered and shows up in the page's log; once the
policy is paused, the next failure sends nothing. Screenshots land in test-artifacts/browser/."""

import time
import uuid

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import capture, run_flow  # noqa: F401  (the flow-script fixture; e2e_server needs capture)
from tests.notifications.capture import CaptureServer

from .conftest import screenshot

pytestmark = pytest.mark.browser

FAILING_FLOW = """
from prefect import flow, tags

@flow(name={flow_name!r})
def nightly_load():
    raise RuntimeError("the warehouse is down")

with tags({tag!r}):
    state = nightly_load(return_state=True)
report(run_id=str(state.state_details.flow_run_id), state=state.type.value)
"""

QUIET_SECONDS = 3  # how long a paused policy must stay silent (its outbox row would already exist)


@pytest.fixture
def slack():
    with CaptureServer() as server:
        yield server


def test_a_slack_policy_made_on_the_page_delivers_and_stays_silent_when_paused(page, dashboard_url, slack, run_flow):  # noqa: F811
    suffix = uuid.uuid4().hex[:8]
    tag, policy_name, flow_name = f"nightly-{suffix}", f"Warehouse failures {suffix}", f"warehouse-load-{suffix}"
    webhook_url = f"{slack.url}/services/T0001/B0002/{suffix}secret"

    page.goto(dashboard_url + "/notifications/")
    page.get_by_role("link", name="New policy").click()
    form = page.locator("#policy-form-new")
    expect(form).to_be_visible()
    # The channel's own fields follow the select.
    form.get_by_label("Channel").select_option("webhook")
    expect(form.get_by_label("Body template")).to_be_visible()
    form.get_by_label("Channel").select_option("slack")
    expect(form.get_by_label("Body template")).to_have_count(0)
    form.get_by_label("Name", exact=True).fill(policy_name)
    form.get_by_label("Webhook URL").fill(webhook_url)
    form.get_by_label("Crashed").uncheck()
    form.get_by_label("Failed", exact=True).check()
    form.get_by_label("Tags").fill(tag)
    screenshot(page, "notifications-01-new-policy")
    form.get_by_role("button", name="Create policy").click()

    card = page.locator("article.policy", has_text=policy_name)
    expect(card).to_be_visible()
    expect(page.locator("#policy-form-new")).to_have_count(0)
    expect(card.get_by_role("switch")).to_have_attribute("aria-checked", "true")
    expect(card).to_contain_text(tag)
    expect(card).not_to_contain_text(f"{suffix}secret")  # the webhook token never reaches the page
    assert f"{suffix}secret" not in page.content()

    failed = run_flow(FAILING_FLOW.format(flow_name=flow_name, tag=tag)).result
    assert failed["state"] == "FAILED"
    sent = slack.wait_for(1, timeout=60)
    assert sent[0].route == f"/services/T0001/B0002/{suffix}secret"
    assert flow_name in sent[0].json["text"] and "failed state" in sent[0].json["text"]

    log = card.locator(".deliveries")
    run_row = log.locator("tr.delivery", has=page.locator(f'a[href="/runs/{failed["run_id"]}/"]'))
    expect(run_row).to_be_visible(timeout=30_000)  # the log refreshes itself
    expect(run_row).to_contain_text("Sent", timeout=30_000)
    expect(run_row).to_contain_text("HTTP 200")
    expect(card.locator(".last-delivery")).to_contain_text("Sent")
    screenshot(page, "notifications-02-delivered")

    card.get_by_role("switch").click()
    expect(card.get_by_role("switch")).to_have_attribute("aria-checked", "false")
    expect(card).to_contain_text("sends nothing until it is resumed")
    screenshot(page, "notifications-03-paused")

    second = run_flow(FAILING_FLOW.format(flow_name=flow_name, tag=tag)).result
    assert second["state"] == "FAILED" and second["run_id"] != failed["run_id"]
    # Outbox rows commit with the state, so a message for this failure would already be queued; give
    # the sender a moment anyway, then nothing may have been sent and the log may show nothing new.
    time.sleep(QUIET_SECONDS)
    assert len(slack.requests) == 1, [request.path for request in slack.requests]
    page.reload()
    card = page.locator("article.policy", has_text=policy_name)
    expect(card.get_by_role("switch")).to_have_attribute("aria-checked", "false")
    expect(card.locator("tr.delivery")).to_have_count(1)
    expect(card.locator(f'a[href="/runs/{second["run_id"]}/"]')).to_have_count(0)
    screenshot(page, "notifications-04-paused-no-delivery")

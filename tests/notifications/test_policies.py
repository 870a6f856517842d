import json

import pytest

from notifications import policies, secrets
from notifications.models import NotificationPolicy
from runs.domain.errors import InvalidInput, NotFound

from .conftest import HEADER_TOKEN, URL_TOKEN


def test_state_names_are_stored_canonically_in_any_case(webhook_policy):
    policy = webhook_policy(state_names=["failed", "CRASHED", " late ", "awaitingretry", "Failed"])
    assert policy.state_names == ["Failed", "Crashed", "Late", "AwaitingRetry"]


@pytest.mark.parametrize("state_names", [[], None, "Failed", ["Exploded"], [1]])
def test_bad_state_names_are_refused_next_to_the_field(webhook_policy, state_names):
    with pytest.raises(InvalidInput) as caught:
        webhook_policy(state_names=state_names)
    assert set(caught.value.field_errors) == {"state_names"}


def test_unknown_channel_and_bad_config_give_per_field_errors(db):
    with pytest.raises(InvalidInput) as caught:
        policies.create_policy(state_names=["Failed"], channel="carrier-pigeon", channel_config={})
    assert "channel" in caught.value.field_errors
    with pytest.raises(InvalidInput) as caught:
        policies.create_policy(
            state_names=["Nope"], channel="webhook", channel_config={"url": "not a url"}, message_template="{oops}"
        )
    errors = caught.value.field_errors
    assert set(errors) == {"state_names", "channel_config.url", "message_template"}
    assert "{oops}" in errors["message_template"]


def test_tags_must_be_a_list_of_strings(webhook_policy):
    with pytest.raises(InvalidInput) as caught:
        webhook_policy(tags=[1, 2])
    assert "tags" in caught.value.field_errors
    assert webhook_policy(tags=["prod", " prod ", "etl"]).tags == ["prod", "etl"]


def test_secrets_are_encrypted_at_rest_and_masked_when_shown(webhook_policy, capture):
    policy = webhook_policy()
    stored = json.dumps(NotificationPolicy.objects.get(pk=policy.id).channel_config)
    assert URL_TOKEN not in stored and HEADER_TOKEN not in stored
    shown = policies.shown_config(policy)
    assert shown["url"] == "http://127.0.0.1/********"
    assert shown["headers"] == {"Authorization": "********"}
    assert shown["method"] == "POST"  # not secret: shown as is


def test_masked_or_missing_secrets_are_kept_on_update(webhook_policy, capture):
    policy = webhook_policy()
    shown = policies.shown_config(policy)
    policies.update_policy(policy_id=policy.id, channel_config={**shown, "method": "PUT"})
    policy.refresh_from_db()
    plain = secrets.decrypt_config(policies.channel_named("webhook"), policy.channel_config)
    assert plain["url"] == f"{capture.url}/hooks/{URL_TOKEN}"
    assert plain["headers"] == {"Authorization": HEADER_TOKEN}
    assert plain["method"] == "PUT"

    policies.update_policy(policy_id=policy.id, channel_config={"url": "https://example.com/new"})
    policy.refresh_from_db()
    plain = secrets.decrypt_config(policies.channel_named("webhook"), policy.channel_config)
    assert plain["url"] == "https://example.com/new"
    assert plain["headers"] == {"Authorization": HEADER_TOKEN}  # left out: kept


def test_update_any_subset_and_pause_resume(webhook_policy):
    policy = webhook_policy()
    updated = policies.update_policy(policy_id=policy.id, name="on-call", tags=["prod"])
    assert (updated.name, updated.tags, updated.state_names) == ("on-call", ["prod"], ["Failed"])
    assert policies.pause_policy(policy_id=policy.id).is_active is False
    assert policies.resume_policy(policy_id=policy.id).is_active is True
    with pytest.raises(InvalidInput):
        policies.update_policy(policy_id=policy.id, id="x")


def test_switching_channel_needs_that_channels_config(webhook_policy):
    policy = webhook_policy()
    with pytest.raises(InvalidInput) as caught:
        policies.update_policy(policy_id=policy.id, channel="slack")
    assert "channel_config.webhook_url" in caught.value.field_errors
    policies.update_policy(
        policy_id=policy.id, channel="slack", channel_config={"webhook_url": "https://hooks.slack.com/services/T/B/X"}
    )
    assert policies.shown_config(policies.read_policy(policy_id=policy.id)) == {"webhook_url": "https://hooks.slack.com/********"}


def test_read_filter_count_delete(webhook_policy):
    first, second = webhook_policy(), webhook_policy(is_active=False)
    active = policies.PolicyFilter(is_active={"eq_": True})
    assert [p.id for p in policies.read_policies(policies=active)] == [first.id]
    assert policies.count_policies() == 2
    assert [p.id for p in policies.read_policies(limit=1, offset=0)] == [second.id]  # newest first
    policies.delete_policy(policy_id=first.id)
    with pytest.raises(NotFound):
        policies.read_policy(policy_id=first.id)
    with pytest.raises(NotFound):
        policies.delete_policy(policy_id=first.id)


def test_validation_errors_do_not_echo_secrets(db):
    with pytest.raises(InvalidInput) as caught:
        policies.create_policy(
            state_names=["Failed"], channel="webhook",
            channel_config={"url": "https://hooks.example.com/abc", "headers": {"Bad Header": "s3cret-value-123"}},
        )
    assert "s3cret-value-123" not in str(caught.value)
    assert "s3cret-value-123" not in json.dumps(caught.value.field_errors)

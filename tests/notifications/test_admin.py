import pytest
from django.contrib.auth.models import User
from django.urls import reverse

from notifications import deliveries
from notifications.models import Delivery

from .conftest import HEADER_TOKEN, URL_TOKEN, enter


@pytest.fixture
def admin_client(client, db):
    client.force_login(User.objects.create_superuser("admin", "admin@example.com", "pw"))
    return client


def test_policies_and_deliveries_render_with_secrets_masked(admin_client, webhook_policy, make_run, capture):
    policy = webhook_policy(name="on-call")
    enter(make_run(), "FAILED")
    delivery = Delivery.objects.get()
    capture.respond("/hooks/", [(400, {}, f"echo {HEADER_TOKEN}")])
    deliveries.send_delivery(delivery.id)
    pages = [
        reverse("admin:notifications_notificationpolicy_changelist"),
        reverse("admin:notifications_notificationpolicy_change", args=[policy.id]),
        reverse("admin:notifications_delivery_changelist"),
        reverse("admin:notifications_delivery_change", args=[delivery.id]),
    ]
    for page in pages:
        response = admin_client.get(page)
        assert response.status_code == 200, page
        text = response.content.decode()
        assert URL_TOKEN not in text and "header-secret" not in text, page
    policy_page = admin_client.get(pages[1]).content.decode()
    assert "http://127.0.0.1/********" in policy_page
    delivery_page = admin_client.get(pages[3]).content.decode()
    assert "HTTP 400" in delivery_page and "echo ********" in delivery_page  # the attempt, inline

"""The concurrency page: usage now, holders, reset; and the admin pages for limits and leases."""

import uuid

import pytest
from django.contrib.auth.models import User
from django.urls import reverse

from runs.domain import concurrency
from runs.models import ConcurrencyLease


@pytest.fixture
def limits(db):
    concurrency.create_tag_limit(tag="db", concurrency_limit=5)
    concurrency.create_concurrency_limit(name="gpu", limit=2)
    concurrency.create_concurrency_limit(name="api-calls", limit=10, slot_decay_per_second=1.0)
    holder = uuid.uuid4()
    concurrency.acquire_slots(names=["tag:db", "gpu"], slots=1, lease_duration=60, holder_type="task_run", holder_id=holder)
    return holder


class TestConcurrencyPage:
    def test_it_lists_every_limit_with_its_usage_and_holders(self, client, limits):
        page = client.get("/concurrency/").content.decode()
        assert "tag “db”" in page and "gpu" in page and "rate limit" in page
        assert str(limits)[:10] in page
        assert page.count(">Reset</button>") == 2  # only limits with slots in use

    def test_the_table_alone_is_sent_to_htmx_refreshes(self, client, limits):
        response = client.get("/concurrency/", HTTP_HX_REQUEST="true", HTTP_HX_TARGET="concurrency-table")
        body = response.content.decode()
        assert body.lstrip().startswith('<div id="concurrency-table"') and "<html" not in body

    def test_it_is_reached_from_the_navigation(self, client, db):
        assert reverse("dashboard:concurrency") in client.get("/").content.decode()

    def test_with_no_limits_it_says_how_to_create_one(self, client, db):
        assert "prefect gcl create" in client.get("/concurrency/").content.decode()

    def test_the_page_costs_a_fixed_number_of_queries(self, client, limits, django_assert_max_num_queries):
        with django_assert_max_num_queries(6):
            client.get("/concurrency/")


class TestResetFromThePage:
    def test_reset_frees_the_slots_and_says_so(self, client, limits):
        gpu = concurrency.read_concurrency_limit(id_or_name="gpu")
        response = client.post(f"/concurrency/{gpu.id}/reset/", follow=True)
        assert "Released every slot of “gpu”" in response.content.decode()
        assert concurrency.read_concurrency_limit(id_or_name="gpu").active_slots == 0
        # The dropped lease also gave back its slot on the other limit it held.
        assert concurrency.read_concurrency_limit(id_or_name="tag:db").active_slots == 0
        assert not ConcurrencyLease.objects.exists()

    def test_reset_of_an_unknown_limit_is_404(self, client, db):
        assert client.post(f"/concurrency/{uuid.uuid4()}/reset/").status_code == 404

    def test_reset_needs_a_post(self, client, limits):
        gpu = concurrency.read_concurrency_limit(id_or_name="gpu")
        assert client.get(f"/concurrency/{gpu.id}/reset/").status_code == 405


class TestAdmin:
    @pytest.fixture
    def admin_client(self, client, db):
        client.force_login(User.objects.create_superuser("admin", "admin@example.com", "pw"))
        return client

    def test_limit_and_lease_pages_render(self, admin_client, limits):
        lease = ConcurrencyLease.objects.get()
        limit = concurrency.read_concurrency_limit(id_or_name="gpu")
        for url in (
            reverse("admin:runs_concurrencylimit_changelist"),
            reverse("admin:runs_concurrencylimit_change", args=[limit.id]),
            reverse("admin:runs_concurrencylease_changelist"),
            reverse("admin:runs_concurrencylease_change", args=[lease.id]),
        ):
            assert admin_client.get(url).status_code == 200, url

    def test_the_reset_action_releases_slots(self, admin_client, limits):
        limit = concurrency.read_concurrency_limit(id_or_name="gpu")
        admin_client.post(
            reverse("admin:runs_concurrencylimit_changelist"),
            {"action": "reset_slots", "_selected_action": [str(limit.id)]},
        )
        assert concurrency.read_concurrency_limit(id_or_name="gpu").active_slots == 0

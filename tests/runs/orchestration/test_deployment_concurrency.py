"""Deployment concurrency limits: slots taken on Pending, given back on leaving Pending/Running/
Cancelling, and the two collision strategies."""

import pytest

from runs.domain.concurrency import release_lease
from runs.models import ConcurrencyLease, ConcurrencyLimit

from ..api.conftest import ApiClient


def propose(api, run, type_, name=None, force=False):
    return api.post(f"/flow_runs/{run['id']}/set_state",
                    {"state": {"type": type_, "name": name}, "force": force}).data


@pytest.fixture
def api(db):
    return ApiClient()


@pytest.fixture
def limited(api):
    flow = api.post("/flows/", {"name": "etl"}).data

    def make(limit=1, strategy="ENQUEUE", name="limited"):
        response = api.post("/deployments/", {
            "name": name, "flow_id": flow["id"], "concurrency_limit": limit,
            "concurrency_options": {"collision_strategy": strategy}, "enforce_parameter_schema": False,
        })
        assert response.status_code == 201, response.data
        deployment = response.data

        def new_run():
            return api.post(f"/deployments/{deployment['id']}/create_flow_run", {}).data

        return deployment, new_run

    return make


class TestDeploymentLimit:
    def test_the_deployment_shows_its_global_limit(self, api, limited):
        deployment, _ = limited(limit=2)
        limit = deployment["global_concurrency_limit"]
        assert (limit["name"], limit["limit"], limit["active_slots"]) == (f"deployment:{deployment['id']}", 2, 0)

    def test_changing_or_removing_the_limit_follows_the_deployment(self, api, limited):
        deployment, _ = limited(limit=2)
        api.patch(f"/deployments/{deployment['id']}", {"concurrency_limit": 3})
        assert ConcurrencyLimit.objects.get(name=f"deployment:{deployment['id']}").limit == 3
        api.patch(f"/deployments/{deployment['id']}", {"concurrency_limit": None})
        assert not ConcurrencyLimit.objects.filter(name=f"deployment:{deployment['id']}").exists()
        assert api.get(f"/deployments/{deployment['id']}").data["global_concurrency_limit"] is None


class TestSecureFlowConcurrencySlots:
    def test_a_run_takes_a_slot_with_a_lease_on_pending(self, api, limited):
        _, new_run = limited()
        result = propose(api, new_run(), "PENDING")
        assert result["status"] == "ACCEPT"
        assert result["state"]["state_details"]["deployment_concurrency_lease_id"]

    def test_enqueue_reschedules_the_second_run_until_the_first_ends(self, api, limited):
        _, new_run = limited(strategy="ENQUEUE")
        first, second = new_run(), new_run()
        assert propose(api, first, "PENDING")["status"] == "ACCEPT"
        waiting = propose(api, second, "PENDING")
        assert waiting["status"] == "REJECT"
        assert (waiting["state"]["type"], waiting["state"]["name"]) == ("SCHEDULED", "AwaitingConcurrencySlot")
        assert waiting["state"]["state_details"]["scheduled_time"]
        propose(api, first, "RUNNING")
        assert propose(api, second, "PENDING")["status"] == "REJECT"  # still taken while running
        assert propose(api, first, "COMPLETED")["status"] == "ACCEPT"
        assert propose(api, second, "PENDING")["status"] == "ACCEPT"

    def test_cancel_new_cancels_the_run_that_finds_the_limit_full(self, api, limited):
        _, new_run = limited(strategy="CANCEL_NEW")
        first, second = new_run(), new_run()
        propose(api, first, "PENDING")
        refused = propose(api, second, "PENDING")
        assert (refused["status"], refused["state"]["type"]) == ("REJECT", "CANCELLED")

    def test_runs_of_deployments_without_a_limit_take_no_slot(self, api, limited):
        flow = api.post("/flows/", {"name": "free"}).data
        deployment = api.post("/deployments/", {"name": "free", "flow_id": flow["id"], "enforce_parameter_schema": False}).data
        run = api.post(f"/deployments/{deployment['id']}/create_flow_run", {}).data
        result = propose(api, run, "PENDING")
        assert result["status"] == "ACCEPT"
        assert not result["state"]["state_details"].get("deployment_concurrency_lease_id")


class TestReleaseFlowConcurrencySlots:
    def test_a_forced_cancel_gives_the_slot_back(self, api, limited):
        _, new_run = limited()
        first, second = new_run(), new_run()
        propose(api, first, "PENDING")
        propose(api, first, "RUNNING")
        propose(api, first, "CANCELLING")
        assert propose(api, first, "CANCELLED", force=True)["status"] == "ACCEPT"
        assert propose(api, second, "PENDING")["status"] == "ACCEPT"

    def test_a_run_awaiting_retry_keeps_its_slot(self, api, limited):
        _, new_run = limited()
        first = new_run()
        api.patch(f"/flow_runs/{first['id']}", {"empirical_policy": {"retries": 1, "retry_delay": 0}})
        second = new_run()
        propose(api, first, "PENDING")
        propose(api, first, "RUNNING")
        retry = propose(api, first, "FAILED")
        assert retry["state"]["name"] == "AwaitingRetry"
        assert propose(api, second, "PENDING")["status"] == "REJECT"

    def test_a_crashed_run_gives_the_slot_back(self, api, limited):
        _, new_run = limited()
        first, second = new_run(), new_run()
        propose(api, first, "PENDING")
        propose(api, first, "CRASHED")
        assert propose(api, second, "PENDING")["status"] == "ACCEPT"


class TestValidateDeploymentConcurrencyAtRunning:
    def test_running_renews_the_lease(self, api, limited):
        _, new_run = limited()
        run = new_run()
        lease_id = propose(api, run, "PENDING")["state"]["state_details"]["deployment_concurrency_lease_id"]
        before = ConcurrencyLease.objects.get(id=lease_id).expires_at
        running = propose(api, run, "RUNNING")
        assert running["status"] == "ACCEPT"
        assert running["state"]["state_details"]["deployment_concurrency_lease_id"] == lease_id
        assert ConcurrencyLease.objects.get(id=lease_id).expires_at >= before

    def test_a_run_whose_lease_expired_takes_a_slot_again(self, api, limited):
        _, new_run = limited()
        run = new_run()
        lease_id = propose(api, run, "PENDING")["state"]["state_details"]["deployment_concurrency_lease_id"]
        release_lease(lease_id=lease_id)  # as lease expiry would
        running = propose(api, run, "RUNNING")
        assert running["status"] == "ACCEPT"
        assert running["state"]["state_details"]["deployment_concurrency_lease_id"] != lease_id

    def test_a_run_whose_slot_was_taken_meanwhile_waits_again(self, api, limited):
        _, new_run = limited()
        first, second = new_run(), new_run()
        lease_id = propose(api, first, "PENDING")["state"]["state_details"]["deployment_concurrency_lease_id"]
        release_lease(lease_id=lease_id)
        assert propose(api, second, "PENDING")["status"] == "ACCEPT"
        refused = propose(api, first, "RUNNING")
        assert (refused["status"], refused["state"]["name"]) == ("REJECT", "AwaitingConcurrencySlot")


class TestDeletingTheDeployment:
    def test_its_limit_goes_with_it(self, api, limited):
        deployment, new_run = limited()
        propose(api, new_run(), "PENDING")
        assert api.delete(f"/deployments/{deployment['id']}").status_code == 204
        assert not ConcurrencyLimit.objects.filter(name=f"deployment:{deployment['id']}").exists()

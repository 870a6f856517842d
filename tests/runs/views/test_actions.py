import uuid

from django.contrib.messages import get_messages

from runs.domain import flow_runs
from runs.models import FlowRun


def flashed(response):
    return [str(message) for message in get_messages(response.wsgi_request)]


class TestCancelFlowRun:
    def test_a_running_run_is_asked_to_cancel(self, client, records):
        run = records.flow_run(records.flow())
        response = client.post(f"/runs/{run.id}/cancel/")
        assert response.status_code == 302 and response.url == f"/runs/{run.id}/"
        assert flow_runs.read_flow_run(flow_run_id=run.id).state_type == "CANCELLING"
        assert flashed(response) == ["Cancellation requested. The run is now Cancelling."]

    def test_a_scheduled_run_without_a_process_is_cancelled_directly(self, client, records):
        run = records.flow_run(records.flow(), states=("SCHEDULED",))
        response = client.post(f"/runs/{run.id}/cancel/")
        assert flow_runs.read_flow_run(flow_run_id=run.id).state_type == "CANCELLED"
        assert "The run is now Cancelled" in flashed(response)[0]

    def test_a_finished_run_cannot_be_cancelled(self, client, records):
        run = records.flow_run(records.flow(), states=("RUNNING", "COMPLETED"))
        response = client.post(f"/runs/{run.id}/cancel/")
        assert flow_runs.read_flow_run(flow_run_id=run.id).state_type == "COMPLETED"
        assert flashed(response) == ["Not possible: the run has already finished (Completed)."]

    def test_an_htmx_cancel_redirects_the_page_to_show_the_result(self, client, records):
        run = records.flow_run(records.flow())
        response = client.post(f"/runs/{run.id}/cancel/", HTTP_HX_REQUEST="true")
        assert response.status_code == 204
        assert response.headers["HX-Redirect"] == f"/runs/{run.id}/"
        page = client.get(f"/runs/{run.id}/")
        assert "Cancellation requested." in page.content.decode()

    def test_get_is_not_allowed(self, client, records):
        run = records.flow_run(records.flow())
        assert client.get(f"/runs/{run.id}/cancel/").status_code == 405
        assert flow_runs.read_flow_run(flow_run_id=run.id).state_type == "RUNNING"

    def test_a_post_without_the_csrf_token_is_refused(self, csrf_client, records):
        run = records.flow_run(records.flow())
        assert csrf_client.post(f"/runs/{run.id}/cancel/").status_code == 403
        assert flow_runs.read_flow_run(flow_run_id=run.id).state_type == "RUNNING"

    def test_a_post_with_the_token_from_the_page_is_accepted(self, csrf_client, records):
        run = records.flow_run(records.flow())
        csrf_client.get(f"/runs/{run.id}/")
        token = csrf_client.cookies["csrftoken"].value
        response = csrf_client.post(f"/runs/{run.id}/cancel/", HTTP_X_CSRFTOKEN=token, HTTP_HX_REQUEST="true")
        assert response.status_code == 204
        assert flow_runs.read_flow_run(flow_run_id=run.id).state_type == "CANCELLING"

    def test_an_unknown_run_is_a_404(self, client):
        assert client.post(f"/runs/{uuid.uuid4()}/cancel/").status_code == 404


class TestRetryFlowRun:
    def test_a_finished_run_of_a_deployment_is_scheduled_again(self, client, records):
        run = records.flow_run(records.flow(), states=("RUNNING", "FAILED"), deployment_id=uuid.uuid4())
        response = client.post(f"/runs/{run.id}/retry/")
        run = flow_runs.read_flow_run(flow_run_id=run.id)
        assert (run.state_type, run.state_name) == ("SCHEDULED", "AwaitingRetry")
        assert flashed(response) == ["Retry scheduled. The run is now AwaitingRetry."]

    def test_a_run_without_a_deployment_is_refused_with_orchestrations_reason(self, client, records):
        run = records.flow_run(records.flow(), states=("RUNNING", "FAILED"))
        response = client.post(f"/runs/{run.id}/retry/")
        assert flow_runs.read_flow_run(flow_run_id=run.id).state_type == "FAILED"
        assert flashed(response) == ["Not possible: Cannot reschedule a run without an associated deployment."]

    def test_a_running_run_cannot_be_retried(self, client, records):
        run = records.flow_run(records.flow())
        response = client.post(f"/runs/{run.id}/retry/")
        assert flow_runs.read_flow_run(flow_run_id=run.id).state_type == "RUNNING"
        assert "only finished runs can be retried" in flashed(response)[0]


class TestDeleteFlowRun:
    def test_a_finished_run_is_deleted_and_the_user_lands_on_the_list(self, client, records):
        run = records.flow_run(records.flow(), name="gone-soon", states=("RUNNING", "COMPLETED"))
        records.task_run(run)
        response = client.post(f"/runs/{run.id}/delete/")
        assert response.url == "/runs/"
        assert not FlowRun.objects.filter(id=run.id).exists()
        assert flashed(response) == ["Flow run 'gone-soon' deleted."]

    def test_an_active_run_is_not_deleted(self, client, records):
        run = records.flow_run(records.flow())
        response = client.post(f"/runs/{run.id}/delete/")
        assert FlowRun.objects.filter(id=run.id).exists()
        assert response.url == f"/runs/{run.id}/"
        assert "cancel the run before deleting it" in flashed(response)[0]

    def test_the_buttons_offered_match_the_runs_state(self, client, records):
        flow = records.flow()
        running = client.get(f"/runs/{records.flow_run(flow).id}/").content.decode()
        assert "Cancel run" in running and "Retry" not in running and "Delete" not in running
        done = client.get(f"/runs/{records.flow_run(flow, states=('RUNNING', 'FAILED')).id}/").content.decode()
        assert "Cancel run" not in done and "Retry" in done and "Delete" in done
        assert "hx-confirm" in done

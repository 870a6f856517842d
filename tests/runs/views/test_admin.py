import pytest
from django.contrib import admin
from django.contrib.auth.models import User

from runs import models

EVERY_MODEL = [models.Flow, models.FlowRun, models.FlowRunState, models.TaskRun, models.TaskRunState, models.Log,
               models.Event, models.EventResource]


@pytest.fixture
def admin_client(client, db):
    user = User.objects.create_superuser("admin", "admin@example.com", "pw")
    client.force_login(user)
    return client


class TestAdmin:
    def test_every_model_is_registered_with_filters_and_search(self):
        for model in EVERY_MODEL:
            model_admin = admin.site._registry.get(model)
            assert model_admin is not None, model
            assert model_admin.list_filter and model_admin.search_fields, model

    def test_every_change_list_and_change_form_renders(self, admin_client, records):
        run = records.flow_run(records.flow(), states=("RUNNING", "COMPLETED"))
        records.task_run(run)
        records.logs(run, ["hello"], level=40)
        for model in EVERY_MODEL:
            name = f"admin:runs_{model._meta.model_name}_changelist"
            from django.urls import reverse

            response = admin_client.get(reverse(name))
            assert response.status_code == 200, model
            search = admin_client.get(reverse(name), {"q": "hello"})
            assert search.status_code == 200, model
            first = model.objects.first()
            if first is not None:
                change = admin_client.get(reverse(f"admin:runs_{model._meta.model_name}_change", args=[first.pk]))
                assert change.status_code == 200, model

    def test_log_levels_filter_at_least_the_chosen_level(self, admin_client, records):
        run = records.flow_run(records.flow())
        records.logs(run, ["quiet"], level=20)
        records.logs(run, ["loud"], level=40)
        response = admin_client.get("/admin/runs/log/", {"level_at_least": "30"})
        assert [log.message for log in response.context["cl"].result_list] == ["loud"]

    def test_the_admin_requires_a_login(self, client):
        response = client.get("/admin/runs/flowrun/")
        assert response.status_code == 302 and "/admin/login/" in response.url

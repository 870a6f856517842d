import base64

import pytest
from django.conf import settings
from django.test import Client

from orchestrator_site.config import Setting


@pytest.fixture
def auth_string(monkeypatch, db):
    prefect = dict(settings.PREFECT)
    prefect["PREFECT_SERVER_API_AUTH_STRING"] = Setting("admin:s3cret", "env")
    monkeypatch.setattr(settings, "PREFECT", prefect)
    return "admin:s3cret"


def basic(value: str) -> str:
    return "Basic " + base64.b64encode(value.encode()).decode()


class TestApiAuth:
    def test_without_an_auth_string_the_api_is_open(self, db):
        assert Client().get("/api/admin/version").status_code == 200

    def test_a_request_without_credentials_is_refused(self, auth_string):
        response = Client().get("/api/admin/version")
        assert response.status_code == 401
        assert response.json() == {"detail": "Unauthorized"}

    def test_wrong_or_malformed_credentials_are_refused(self, auth_string):
        for header in (basic("admin:wrong"), "Bearer admin:s3cret", "Basic !!!not-base64"):
            assert Client(HTTP_AUTHORIZATION=header).post("/api/flows/filter", "{}", "application/json").status_code == 401

    def test_the_right_credentials_are_let_through(self, auth_string):
        client = Client(HTTP_AUTHORIZATION=basic(auth_string))
        assert client.post("/api/flows/filter", "{}", "application/json").status_code == 200

    def test_health_probes_stay_open(self, auth_string):
        assert Client().get("/api/health").status_code == 200

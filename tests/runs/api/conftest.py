import json

import pytest
from django.test import Client


class ApiClient:
    """The Django test client speaking JSON to /api, as the Prefect client does."""

    def __init__(self):
        self.client = Client(HTTP_USER_AGENT="prefect/3.8.8 (API 0.8.4)")

    def request(self, method, path, body=None, raw=None):
        data = raw if raw is not None else (json.dumps(body) if body is not None else None)
        kwargs = {"data": data, "content_type": "application/json"} if data is not None else {}
        response = getattr(self.client, method)(f"/api{path}", **kwargs)
        response.data = json.loads(response.content) if response.content else None
        return response

    def get(self, path):
        return self.request("get", path)

    def post(self, path, body=None, raw=None):
        return self.request("post", path, body, raw)

    def patch(self, path, body=None):
        return self.request("patch", path, body)

    def delete(self, path):
        return self.request("delete", path)


@pytest.fixture
def api(db):
    return ApiClient()


@pytest.fixture
def flow(api):
    return api.post("/flows/", {"name": "etl", "tags": [], "labels": {}}).data


@pytest.fixture
def make_flow_run(api, flow):
    def make(**fields):
        body = {"flow_id": flow["id"], **fields}
        response = api.post("/flow_runs/", body)
        assert response.status_code == 201, response.data
        return response.data

    return make

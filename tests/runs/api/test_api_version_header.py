import pytest


@pytest.mark.parametrize("header", ["0.8.4", "0.8.0", "1.0.0", ""])
def test_a_current_or_missing_version_is_accepted(api, header):
    response = api.client.post("/api/flows/filter", data="{}", content_type="application/json",
                               HTTP_X_PREFECT_API_VERSION=header)
    assert response.status_code == 200


@pytest.mark.parametrize("header", ["abc", "0.8", "1.2.3.4", "0.8.x"])
def test_a_malformed_version_is_400(api, header):
    response = api.client.post("/api/flows/filter", data="{}", content_type="application/json",
                               HTTP_X_PREFECT_API_VERSION=header)
    assert response.status_code == 400
    assert response.json() == {"detail": "Invalid X-PREFECT-API-VERSION header format.Expected header in format "
                                         f"'x.y.z' but received {header}"}


def test_a_version_below_the_minimum_is_400(api):
    response = api.client.get("/api/health", HTTP_X_PREFECT_API_VERSION="0.7.9")
    assert response.status_code == 400
    assert "requires version 0.8.0 or higher" in response.json()["detail"]

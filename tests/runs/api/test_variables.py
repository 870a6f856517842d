import uuid

import pytest

from runs.models import Variable


@pytest.fixture
def variable(api):
    response = api.post("/variables/", {"name": "region", "value": "eu-west-1", "tags": ["infra"]})
    assert response.status_code == 201, response.data
    return response.data


class TestCreateVariable:
    def test_returns_the_variable_with_its_id(self, api):
        response = api.post("/variables/", {"name": "answer", "value": 42, "tags": []})
        assert response.status_code == 201
        assert response.data["name"] == "answer"
        assert response.data["value"] == 42
        assert uuid.UUID(response.data["id"])

    @pytest.mark.parametrize("value", ["text", 1.5, True, None, {"a": [1, 2]}, [1, "two"]])
    def test_keeps_any_json_value(self, api, value):
        created = api.post("/variables/", {"name": "v", "value": value}).data
        assert api.get(f"/variables/{created['id']}").data["value"] == value

    def test_refuses_a_duplicate_name_with_409(self, api, variable):
        response = api.post("/variables/", {"name": "region", "value": "x"})
        assert response.status_code == 409
        assert "already exists" in response.data["detail"]

    @pytest.mark.parametrize("name", ["Upper", "with space", "slash/name", "", "a" * 256])
    def test_refuses_names_outside_the_rules(self, api, name):
        response = api.post("/variables/", {"name": name, "value": 1})
        assert response.status_code == 422
        assert Variable.objects.count() == 0

    def test_refuses_a_value_longer_than_5000_characters(self, api):
        response = api.post("/variables/", {"name": "big", "value": "x" * 5000})
        assert response.status_code == 422
        assert "5000" in response.data["detail"]

    def test_refuses_a_body_without_a_name_or_value(self, api):
        assert api.post("/variables/", {"value": 1}).status_code == 422
        assert api.post("/variables/", {"name": "novalue"}).status_code == 422


class TestReadVariableByName:
    def test_returns_the_variable(self, api, variable):
        response = api.get("/variables/name/region")
        assert response.status_code == 200
        assert response.data["id"] == variable["id"]

    def test_answers_404_with_the_message_the_client_expects(self, api):
        response = api.get("/variables/name/missing")
        assert response.status_code == 404
        assert response.data == {"detail": "Variable not found."}


class TestUpdateVariable:
    def test_patch_by_name_overwrites_the_value(self, api, variable):
        assert api.patch("/variables/name/region", {"name": "region", "value": "us", "tags": []}).status_code == 204
        assert api.get("/variables/name/region").data["value"] == "us"

    def test_patch_by_id_keeps_fields_not_mentioned(self, api, variable):
        assert api.patch(f"/variables/{variable['id']}", {"tags": ["a"]}).status_code == 204
        updated = api.get(f"/variables/{variable['id']}").data
        assert updated["value"] == "eu-west-1"
        assert updated["tags"] == ["a"]

    def test_renaming_onto_an_existing_name_is_a_conflict(self, api, variable):
        api.post("/variables/", {"name": "other", "value": 1})
        assert api.patch("/variables/name/other", {"name": "region"}).status_code == 409

    def test_an_invalid_new_name_is_refused_and_nothing_changes(self, api, variable):
        assert api.patch("/variables/name/region", {"name": "Bad Name", "value": 2}).status_code == 422
        assert api.get("/variables/name/region").data["value"] == "eu-west-1"

    def test_updating_a_missing_variable_is_404(self, api):
        assert api.patch(f"/variables/{uuid.uuid4()}", {"value": 1}).status_code == 404


class TestDeleteVariable:
    def test_by_name(self, api, variable):
        assert api.delete("/variables/name/region").status_code == 204
        assert api.get("/variables/name/region").status_code == 404

    def test_by_id(self, api, variable):
        assert api.delete(f"/variables/{variable['id']}").status_code == 204
        assert api.delete(f"/variables/{variable['id']}").status_code == 404


class TestFilterVariables:
    @pytest.fixture(autouse=True)
    def several(self, api):
        for name, tags in (("alpha", ["x"]), ("beta", ["x", "y"]), ("gamma", [])):
            api.post("/variables/", {"name": name, "value": name, "tags": tags})

    def test_sorts_by_name_by_default(self, api):
        assert [v["name"] for v in api.post("/variables/filter", {"limit": 100}).data] == ["alpha", "beta", "gamma"]

    def test_treats_nulls_as_not_provided(self, api):
        body = {"variables": None, "limit": None, "offset": None, "sort": None}
        assert len(api.post("/variables/filter", body).data) == 3

    def test_filters_by_name_like_and_tags(self, api):
        like = api.post("/variables/filter", {"variables": {"name": {"like_": "a"}}}).data
        assert {v["name"] for v in like} == {"alpha", "beta", "gamma"}
        tagged = api.post("/variables/filter", {"variables": {"tags": {"all_": ["x", "y"]}}}).data
        assert [v["name"] for v in tagged] == ["beta"]

    def test_pages_and_sorts_descending(self, api):
        page = api.post("/variables/filter", {"sort": "NAME_DESC", "limit": 1, "offset": 1}).data
        assert [v["name"] for v in page] == ["beta"]

    def test_counts_matching_variables(self, api):
        assert api.post("/variables/count", {"variables": {"name": {"any_": ["alpha", "gamma"]}}}).data == 2
        assert api.post("/variables/count", {}).data == 3

    def test_refuses_an_unknown_sort(self, api):
        assert api.post("/variables/filter", {"sort": "SIDEWAYS"}).status_code == 422

import pytest

from runs.domain import variables
from runs.models import Variable


@pytest.fixture
def variable(db):
    return variables.create_variable(name="region", value={"zone": "<b>eu</b>"}, tags=["infra"])


class TestVariablesPage:
    def test_lists_variables_with_escaped_values(self, client, variable):
        body = client.get("/variables/").content.decode()
        assert "region" in body
        assert "&lt;b&gt;eu&lt;/b&gt;" in body and "<b>eu</b>" not in body

    def test_search_narrows_the_list(self, htmx_client, variable):
        variables.create_variable(name="other", value=1)
        body = htmx_client.fragment("/variables/", "variable-table", {"q": "reg"}).content.decode()
        assert "region" in body and "other" not in body


class TestCreateVariableFromThePage:
    def test_json_or_text_values_and_tags(self, client, db):
        client.post("/variables/create/", {"name": "limits", "value": '{"max": 3}', "tags": "a, b"})
        client.post("/variables/create/", {"name": "greeting", "value": "hello there", "tags": ""})
        assert Variable.objects.get(name="limits").value == {"max": 3}
        assert Variable.objects.get(name="limits").tags == ["a", "b"]
        assert Variable.objects.get(name="greeting").value == "hello there"

    def test_an_invalid_name_is_shown_and_nothing_is_saved(self, htmx_client, db):
        response = htmx_client.post("/variables/create/", {"name": "Bad Name", "value": "1"},
                                    HTTP_HX_REQUEST="true", HTTP_HX_TARGET="variable-table")
        assert response.status_code == 400
        assert "lowercase letters" in response.content.decode()
        assert not Variable.objects.exists()

    def test_a_duplicate_name_is_shown(self, client, variable):
        response = client.post("/variables/create/", {"name": "region", "value": "1"})
        assert response.status_code == 400
        assert "already exists" in response.content.decode()


class TestEditVariableInPlace:
    def test_the_row_turns_into_a_form_and_back(self, htmx_client, variable):
        form = htmx_client.fragment(f"/variables/{variable.id}/", f"variable-{variable.id}", {"edit": "1"})
        assert 'name="value"' in form.content.decode()
        saved = htmx_client.post(f"/variables/{variable.id}/update/", {"name": "region", "value": "42", "tags": "x"},
                                 HTTP_HX_REQUEST="true", HTTP_HX_TARGET=f"variable-{variable.id}")
        assert saved.status_code == 200 and 'name="value"' not in saved.content.decode()
        variable.refresh_from_db()
        assert (variable.value, variable.tags) == (42, ["x"])

    def test_an_invalid_edit_keeps_the_form_with_the_reason(self, htmx_client, variable):
        response = htmx_client.post(f"/variables/{variable.id}/update/", {"name": "NO", "value": "1", "tags": ""},
                                    HTTP_HX_REQUEST="true", HTTP_HX_TARGET=f"variable-{variable.id}")
        assert response.status_code == 400 and "lowercase" in response.content.decode()
        variable.refresh_from_db()
        assert variable.name == "region"

    def test_delete_removes_the_row(self, htmx_client, variable):
        response = htmx_client.post(f"/variables/{variable.id}/delete/", HTTP_HX_REQUEST="true")
        assert response.status_code == 200 and response.content == b""
        assert not Variable.objects.exists()

    def test_forms_need_the_csrf_token(self, csrf_client, variable):
        assert csrf_client.post(f"/variables/{variable.id}/delete/").status_code == 403

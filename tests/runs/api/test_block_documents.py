import uuid

import pytest
from django.db import connection

from runs.models import BlockDocument, Event

from .blocks_helpers import make_block_document, make_block_schema, make_block_type

SECRET_VALUE = "pw-7f3a9c-never-in-clear"


@pytest.fixture
def schema(api):
    return make_block_schema(api, make_block_type(api))


@pytest.fixture
def document(api, schema):
    return make_block_document(api, schema, data={
        "username": "user-ada-lovelace", "password": SECRET_VALUE, "nested": {"token": "tok-1", "other": "visible"},
        "extras": {"a": "x1", "b": {"c": "x2"}},
    })


def raw_rows_text() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM runs_blockdocument")
        return repr(cursor.fetchall())


class TestCreateBlockDocument:
    def test_answers_201_with_secret_fields_masked(self, api, document):
        assert document["data"]["password"] == "********"
        assert document["data"]["nested"] == {"token": "********", "other": "visible"}
        assert document["data"]["extras"] == {"a": "********", "b": {"c": "********"}}
        assert document["data"]["username"] == "user-ada-lovelace"
        assert document["block_type_name"] == "Credentials"
        assert document["block_schema"]["block_type"]["slug"] == "credentials"

    def test_stores_data_encrypted_so_the_secret_is_not_in_the_database(self, api, document):
        text = raw_rows_text()
        assert document["id"].replace("-", "") in text.replace("-", "")
        assert SECRET_VALUE not in text
        assert "user-ada-lovelace" not in text

    def test_refuses_a_second_document_with_the_same_name_with_the_clients_message(self, api, schema, document):
        response = api.post("/block_documents/", {"name": "prod", "data": {}, "block_schema_id": schema["id"],
                                                  "block_type_id": schema["block_type_id"]})
        assert response.status_code == 409
        assert response.data == {"detail": "Block already exists"}

    def test_requires_a_name_unless_anonymous(self, api, schema):
        body = {"data": {}, "block_schema_id": schema["id"], "block_type_id": schema["block_type_id"]}
        assert api.post("/block_documents/", {**body, "name": None}).status_code == 422
        anonymous = api.post("/block_documents/", {**body, "is_anonymous": True})
        assert anonymous.status_code == 201
        assert anonymous.data["name"].startswith("anonymous-")

    @pytest.mark.parametrize("name", ["a/b", "x>y", "%"])
    def test_refuses_names_with_banned_characters(self, api, schema, name):
        body = {"name": name, "data": {}, "block_schema_id": schema["id"], "block_type_id": schema["block_type_id"]}
        assert api.post("/block_documents/", body).status_code == 422
        assert not BlockDocument.objects.exists()

    def test_refuses_a_schema_of_another_type(self, api, schema):
        other = make_block_type(api, name="Other", slug="other")
        body = {"name": "x", "data": {}, "block_schema_id": schema["id"], "block_type_id": other["id"]}
        assert api.post("/block_documents/", body).status_code == 422

    def test_unknown_schema_is_404(self, api, schema):
        body = {"name": "x", "data": {}, "block_schema_id": str(uuid.uuid4()), "block_type_id": schema["block_type_id"]}
        assert api.post("/block_documents/", body).status_code == 404


class TestReadBlockDocument:
    def test_include_secrets_returns_plain_values(self, api, document):
        data = api.get(f"/block_documents/{document['id']}?include_secrets=true").data["data"]
        assert data["password"] == SECRET_VALUE
        assert data["nested"]["token"] == "tok-1"
        assert data["extras"] == {"a": "x1", "b": {"c": "x2"}}

    def test_by_type_slug_and_name_as_block_load_does(self, api, document):
        response = api.get("/block_types/slug/credentials/block_documents/name/prod?include_secrets=true")
        assert response.status_code == 200
        assert response.data["data"]["password"] == SECRET_VALUE
        masked = api.get("/block_types/slug/credentials/block_documents/name/prod")
        assert masked.data["data"]["password"] == "********"

    def test_missing_document_is_404(self, api, schema):
        assert api.get("/block_types/slug/credentials/block_documents/name/none").status_code == 404
        assert api.get(f"/block_documents/{uuid.uuid4()}").status_code == 404

    def test_lists_the_documents_of_a_type(self, api, document):
        listed = api.get("/block_types/slug/credentials/block_documents").data
        assert [d["name"] for d in listed] == ["prod"]
        assert listed[0]["data"]["password"] == "********"


class TestNestedBlockDocuments:
    @pytest.fixture
    def parent_schema(self, api):
        parent_type = make_block_type(api, name="Parent", slug="parent")
        fields = {"title": "Parent", "block_type_slug": "parent", "secret_fields": [],
                  "block_schema_references": {"child": {"block_type_slug": "credentials", "block_schema_checksum": "x"}}}
        return make_block_schema(api, parent_type, fields=fields)

    def test_references_are_resolved_into_the_data(self, api, document, parent_schema):
        parent = make_block_document(api, parent_schema, name="p", data={
            "label": "L", "child": {"$ref": {"block_document_id": document["id"]}}})
        assert parent["data"]["child"]["password"] == "********"  # masked by the child's own schema
        assert parent["data"]["child"]["username"] == "user-ada-lovelace"
        reference = parent["block_document_references"]["child"]["block_document"]
        assert reference["id"] == document["id"]
        assert reference["block_type"]["slug"] == "credentials"
        loaded = api.get(f"/block_documents/{parent['id']}?include_secrets=true").data
        assert loaded["data"]["child"]["password"] == SECRET_VALUE

    def test_a_reference_to_a_missing_document_is_404_and_nothing_is_written(self, api, parent_schema):
        body = {"name": "p", "data": {"child": {"$ref": {"block_document_id": str(uuid.uuid4())}}},
                "block_schema_id": parent_schema["id"], "block_type_id": parent_schema["block_type_id"]}
        assert api.post("/block_documents/", body).status_code == 404
        assert not BlockDocument.objects.filter(name="p").exists()

    def test_a_reference_cycle_is_refused(self, api, parent_schema):
        first = make_block_document(api, parent_schema, name="one", data={})
        second = make_block_document(api, parent_schema, name="two",
                                     data={"child": {"$ref": {"block_document_id": first["id"]}}})
        response = api.patch(f"/block_documents/{first['id']}",
                             {"data": {"child": {"$ref": {"block_document_id": second["id"]}}}})
        assert response.status_code == 422
        assert "cycle" in response.data["detail"]

    def test_deleting_the_child_removes_the_reference(self, api, document, parent_schema):
        parent = make_block_document(api, parent_schema, name="p",
                                     data={"child": {"$ref": {"block_document_id": document["id"]}}})
        assert api.delete(f"/block_documents/{document['id']}").status_code == 204
        assert "child" not in api.get(f"/block_documents/{parent['id']}").data["data"]


class TestUpdateBlockDocument:
    def test_overwrites_values_as_save_with_overwrite_does(self, api, schema, document):
        body = {"block_schema_id": schema["id"], "data": {"username": "bob", "password": "new-pass"}}
        assert api.patch(f"/block_documents/{document['id']}", body).status_code == 204
        data = api.get(f"/block_documents/{document['id']}?include_secrets=true").data["data"]
        assert (data["username"], data["password"]) == ("bob", "new-pass")
        assert data["nested"]["token"] == "tok-1"  # merged with what was there

    def test_posting_back_the_mask_keeps_the_secret(self, api, document):
        masked = api.get(f"/block_documents/{document['id']}").data["data"]
        assert api.patch(f"/block_documents/{document['id']}", {"data": masked}).status_code == 204
        data = api.get(f"/block_documents/{document['id']}?include_secrets=true").data["data"]
        assert data["password"] == SECRET_VALUE
        assert data["extras"]["b"]["c"] == "x2"

    def test_without_merging_replaces_the_data(self, api, document):
        api.patch(f"/block_documents/{document['id']}", {"data": {"username": "z"}, "merge_existing_data": False})
        assert api.get(f"/block_documents/{document['id']}?include_secrets=true").data["data"] == {"username": "z"}

    def test_refuses_a_schema_of_another_type(self, api, document):
        other_schema = make_block_schema(api, make_block_type(api, name="Other", slug="other"), fields={"title": "O"})
        response = api.patch(f"/block_documents/{document['id']}", {"block_schema_id": other_schema["id"]})
        assert response.status_code == 422

    def test_missing_document_is_404(self, api):
        assert api.patch(f"/block_documents/{uuid.uuid4()}", {"data": {}}).status_code == 404


class TestFilterBlockDocuments:
    @pytest.fixture(autouse=True)
    def several(self, api, schema):
        make_block_document(api, schema, name="b-doc", data={"password": "p"})
        make_block_document(api, schema, name="a-doc")
        make_block_document(api, schema, name=None, is_anonymous=True)

    def test_the_cli_body_with_nulls_lists_named_documents_with_secrets(self, api):
        body = {"block_schema_type": None, "offset": None, "limit": None, "include_secrets": True}
        listed = api.post("/block_documents/filter", body).data
        assert [d["name"] for d in listed] == ["a-doc", "b-doc"]
        assert listed[1]["data"]["password"] == "p"

    def test_masks_secrets_by_default(self, api):
        listed = api.post("/block_documents/filter", {}).data
        assert listed[1]["data"]["password"] == "********"

    def test_anonymous_documents_only_when_asked(self, api):
        listed = api.post("/block_documents/filter", {"block_documents": {"is_anonymous": {"eq_": True}}}).data
        assert len(listed) == 1 and listed[0]["is_anonymous"] is True
        everything = api.post("/block_documents/filter", {"block_documents": {"is_anonymous": None}}).data
        assert len(everything) == 3

    def test_by_name_type_and_sort(self, api, schema):
        by_name = api.post("/block_documents/filter", {"block_documents": {"name": {"like_": "b-"}}}).data
        assert [d["name"] for d in by_name] == ["b-doc"]
        by_type = api.post("/block_documents/filter", {"block_types": {"slug": {"any_": ["nope"]}}}).data
        assert by_type == []
        descending = api.post("/block_documents/filter", {"sort": "NAME_DESC", "limit": 1}).data
        assert [d["name"] for d in descending] == ["b-doc"]

    def test_counts(self, api):
        assert api.post("/block_documents/count", {}).data == 2
        assert api.post("/block_documents/count", {"block_documents": {"name": {"any_": ["a-doc"]}}}).data == 1


class TestDeleteBlockDocument:
    def test_removes_it(self, api, document):
        assert api.delete(f"/block_documents/{document['id']}").status_code == 204
        assert api.delete(f"/block_documents/{document['id']}").status_code == 404


class TestBlockDocumentEvents:
    def test_create_update_and_delete_are_published_without_any_data(self, api, schema, document):
        api.patch(f"/block_documents/{document['id']}", {"data": {"username": "x"}})
        api.delete(f"/block_documents/{document['id']}")
        events = Event.objects.filter(resource_id=f"prefect.block-document.{document['id']}").order_by("occurred")
        assert [e.event for e in events] == [
            "prefect.block-document.created", "prefect.block-document.updated", "prefect.block-document.deleted"]
        assert all(e.payload == {} for e in events)
        assert SECRET_VALUE not in repr(list(Event.objects.values()))

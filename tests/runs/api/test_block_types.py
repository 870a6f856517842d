import uuid

import pytest

from runs.models import BlockType

from .blocks_helpers import make_block_document, make_block_schema, make_block_type


class TestCreateBlockType:
    def test_returns_the_new_type(self, api):
        created = make_block_type(api, description="Login details")
        assert created["slug"] == "credentials"
        assert created["description"] == "Login details"
        assert created["is_protected"] is False

    def test_refuses_a_duplicate_slug_with_409(self, api):
        make_block_type(api)
        assert api.post("/block_types/", {"name": "Other", "slug": "credentials"}).status_code == 409

    @pytest.mark.parametrize("name", ["a/b", "50%", "x&y", "<b>", ""])
    def test_refuses_names_with_banned_characters(self, api, name):
        assert api.post("/block_types/", {"name": name, "slug": "ok"}).status_code == 422
        assert not BlockType.objects.exists()

    def test_refuses_a_slug_that_is_not_lowercase_with_dashes(self, api):
        assert api.post("/block_types/", {"name": "Fine", "slug": "Not_OK"}).status_code == 422


class TestReadBlockType:
    def test_by_slug_and_by_id(self, api):
        created = make_block_type(api)
        assert api.get("/block_types/slug/credentials").data["id"] == created["id"]
        assert api.get(f"/block_types/{created['id']}").data["slug"] == "credentials"

    def test_unknown_slug_is_404(self, api):
        response = api.get("/block_types/slug/nope")
        assert response.status_code == 404
        assert response.data == {"detail": "Block type not found"}


class TestFilterBlockTypes:
    def test_by_name_and_slug_with_nulls_meaning_not_provided(self, api):
        make_block_type(api)
        make_block_type(api, name="Secret", slug="secret")
        assert len(api.post("/block_types/filter", {"block_types": None, "limit": None, "offset": None}).data) == 2
        by_like = api.post("/block_types/filter", {"block_types": {"name": {"like_": "secr"}}}).data
        assert [t["slug"] for t in by_like] == ["secret"]
        by_slug = api.post("/block_types/filter", {"block_types": {"slug": {"any_": ["credentials"]}}}).data
        assert [t["slug"] for t in by_slug] == ["credentials"]

    def test_by_schema_capability(self, api):
        storage = make_block_type(api, name="Storage", slug="storage")
        make_block_schema(api, storage, fields={"title": "Storage"}, capabilities=["read-path"])
        make_block_type(api)
        found = api.post("/block_types/filter", {"block_schemas": {"block_capabilities": {"all_": ["read-path"]}}}).data
        assert [t["slug"] for t in found] == ["storage"]


class TestUpdateBlockType:
    def test_changes_metadata(self, api):
        created = make_block_type(api)
        assert api.patch(f"/block_types/{created['id']}", {"description": "new"}).status_code == 204
        assert api.get("/block_types/slug/credentials").data["description"] == "new"

    def test_protected_types_cannot_be_changed_or_deleted(self, api):
        created = make_block_type(api)
        BlockType.objects.filter(id=created["id"]).update(is_protected=True)
        assert api.patch(f"/block_types/{created['id']}", {"description": "x"}).status_code == 403
        assert api.delete(f"/block_types/{created['id']}").status_code == 403


class TestDeleteBlockType:
    def test_removes_its_schemas_and_documents(self, api):
        created = make_block_type(api)
        document = make_block_document(api, make_block_schema(api, created))
        assert api.delete(f"/block_types/{created['id']}").status_code == 204
        assert api.get(f"/block_documents/{document['id']}").status_code == 404

    def test_unknown_type_is_404(self, api):
        assert api.delete(f"/block_types/{uuid.uuid4()}").status_code == 404

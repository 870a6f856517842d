import uuid

from prefect.blocks.core import Block
from prefect.blocks.system import Secret
from pydantic import SecretStr

from .blocks_helpers import SECRET_FIELDS_SCHEMA, make_block_schema, make_block_type


class Inner(Block):
    _block_type_slug = "inner-for-checksum"
    token: SecretStr
    host: str


class Outer(Block):
    _block_type_slug = "outer-for-checksum"
    inner: Inner
    label: str


class TestCreateBlockSchema:
    def test_computes_the_checksum_the_client_computes(self, api):
        # The client looks schemas up by the checksum it computes locally; both must agree.
        for block_class in (Secret, Inner, Outer):
            block_type = make_block_type(api, name=block_class.__name__, slug=block_class.get_block_type_slug())
            schema = make_block_schema(api, block_type, fields=block_class.model_json_schema())
            assert schema["checksum"] == block_class._calculate_schema_checksum()

    def test_the_same_fields_twice_return_the_existing_schema_with_200(self, api):
        block_type = make_block_type(api)
        first = api.post("/block_schemas/", {"fields": SECRET_FIELDS_SCHEMA, "block_type_id": block_type["id"]})
        second = api.post("/block_schemas/", {"fields": SECRET_FIELDS_SCHEMA, "block_type_id": block_type["id"]})
        assert (first.status_code, second.status_code) == (201, 200)
        assert first.data["id"] == second.data["id"]

    def test_returns_the_block_type_with_the_schema(self, api):
        schema = make_block_schema(api, make_block_type(api))
        assert schema["block_type"]["slug"] == "credentials"
        assert schema["version"] == "non-versioned"

    def test_an_unknown_block_type_is_404(self, api):
        response = api.post("/block_schemas/", {"fields": {}, "block_type_id": str(uuid.uuid4())})
        assert response.status_code == 404


class TestReadBlockSchema:
    def test_by_checksum_with_and_without_version(self, api):
        schema = make_block_schema(api, make_block_type(api), version="3.8.8")
        found = api.get(f"/block_schemas/checksum/{schema['checksum']}?version=3.8.8")
        assert found.data["id"] == schema["id"]
        assert api.get(f"/block_schemas/checksum/{schema['checksum']}").data["id"] == schema["id"]
        assert api.get(f"/block_schemas/checksum/{schema['checksum']}?version=1.0").status_code == 404

    def test_by_id(self, api):
        schema = make_block_schema(api, make_block_type(api))
        assert api.get(f"/block_schemas/{schema['id']}").data["checksum"] == schema["checksum"]
        assert api.get(f"/block_schemas/{uuid.uuid4()}").status_code == 404


class TestFilterBlockSchemas:
    def test_by_type_capability_and_version(self, api):
        first = make_block_type(api)
        second = make_block_type(api, name="Storage", slug="storage")
        make_block_schema(api, first)
        make_block_schema(api, second, fields={"title": "Storage"}, capabilities=["read-path", "write-path"],
                          version="2")
        assert len(api.post("/block_schemas/filter", {"block_schemas": None, "limit": None}).data) == 2
        by_type = api.post("/block_schemas/filter", {"block_schemas": {"block_type_id": {"any_": [first["id"]]}}})
        assert [s["block_type_id"] for s in by_type.data] == [first["id"]]
        by_caps = api.post("/block_schemas/filter",
                           {"block_schemas": {"block_capabilities": {"all_": ["read-path", "write-path"]}}})
        assert [s["block_type_id"] for s in by_caps.data] == [second["id"]]
        by_version = api.post("/block_schemas/filter", {"block_schemas": {"version": {"any_": ["2"]}}})
        assert len(by_version.data) == 1


class TestDeleteBlockSchema:
    def test_removes_it(self, api):
        schema = make_block_schema(api, make_block_type(api))
        assert api.delete(f"/block_schemas/{schema['id']}").status_code == 204
        assert api.get(f"/block_schemas/{schema['id']}").status_code == 404


class TestBlockCapabilities:
    def test_lists_every_capability_once(self, api):
        first = make_block_type(api)
        second = make_block_type(api, name="Storage", slug="storage")
        make_block_schema(api, first, fields={"title": "A"}, capabilities=["write-path"])
        make_block_schema(api, second, fields={"title": "B"}, capabilities=["read-path", "write-path"])
        assert api.get("/block_capabilities/").data == ["read-path", "write-path"]

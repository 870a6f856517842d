import pytest

from runs.domain import blocks
from runs.models import BlockDocument

SECRET = "pw-9b1e-dashboard-never-shows"

FIELDS = {
    "title": "Database", "block_type_slug": "database", "type": "object",
    "properties": {
        "host": {"type": "string", "title": "Host", "position": 0},
        "port": {"type": "integer", "title": "Port", "default": 5432, "position": 1},
        "password": {"type": "string", "format": "password", "title": "Password", "position": 2},
        "ssl": {"type": "boolean", "title": "SSL", "position": 3},
        "options": {"type": "object", "title": "Options", "position": 4},
    },
    "required": ["host", "password"],
    "secret_fields": ["password"],
    "block_schema_references": {},
}


@pytest.fixture
def schema(db):
    block_type = blocks.create_block_type(name="Database", slug="database")
    return blocks.create_block_schema(fields=FIELDS, block_type_id=block_type.id)[0]


@pytest.fixture
def document(schema):
    return blocks.create_block_document(
        name="warehouse", data={"host": "db.local", "port": 5432, "password": SECRET, "ssl": True},
        block_schema_id=schema.id, block_type_id=schema.block_type_id,
    ).document


def stored(document) -> dict:
    return blocks.read_block_document(block_document_id=document.id, include_secrets=True).data


class TestBlocksPage:
    def test_lists_documents_by_type(self, client, document):
        body = client.get("/blocks/").content.decode()
        assert "Database" in body and f"/blocks/{document.id}/" in body and "database/warehouse" in body

    def test_filters_by_type(self, client, document):
        other = blocks.create_block_type(name="Other", slug="other")
        assert "warehouse" not in client.get("/blocks/", {"type": other.slug}).content.decode()


class TestBlockForm:
    def test_the_edit_form_is_built_from_the_schema_and_masks_the_secret(self, client, document):
        body = client.get(f"/blocks/{document.id}/").content.decode()
        assert 'type="password" id="field-password" name="password" value="********"' in body
        assert 'name="host" value="db.local"' in body and 'type="number"' in body and 'checked' in body
        assert SECRET not in body

    def test_saving_with_the_mask_keeps_the_secret(self, client, document):
        response = client.post(f"/blocks/{document.id}/", {"host": "db2", "port": "6543", "password": "********"})
        assert response.status_code == 302
        assert stored(document) == {"host": "db2", "port": 6543, "password": SECRET, "ssl": False}

    def test_a_new_secret_replaces_the_old_and_json_fields_are_parsed(self, client, document):
        client.post(f"/blocks/{document.id}/", {"host": "h", "password": "new", "options": '{"a": 1}', "ssl": "on"})
        assert stored(document) == {"host": "h", "password": "new", "options": {"a": 1}, "ssl": True}

    def test_creates_a_document_from_the_type_schema(self, client, schema):
        assert 'name="block_name"' in client.get("/blocks/new/database/").content.decode()
        response = client.post("/blocks/new/database/", {"block_name": "fresh", "host": "x", "password": "p1"})
        assert response.status_code == 302
        created = BlockDocument.objects.get(name="fresh")
        assert stored(created)["password"] == "p1"

    def test_a_bad_name_or_number_is_explained(self, client, schema):
        bad_name = client.post("/blocks/new/database/", {"block_name": "a/b", "host": "x", "password": "p"})
        assert bad_name.status_code == 400 and "must not contain" in bad_name.content.decode()
        bad_port = client.post("/blocks/new/database/", {"block_name": "ok", "host": "x", "password": "p", "port": "x"})
        assert bad_port.status_code == 400 and "must be a number" in bad_port.content.decode()
        assert not BlockDocument.objects.exists()

    def test_a_type_without_a_schema_is_404(self, client, db):
        blocks.create_block_type(name="Empty", slug="empty")
        assert client.get("/blocks/new/empty/").status_code == 404

    def test_delete(self, client, document):
        assert client.post(f"/blocks/{document.id}/delete/").status_code == 302
        assert not BlockDocument.objects.exists()


class TestNestedBlockForm:
    def test_a_reference_field_offers_documents_of_its_type(self, client, document):
        parent_type = blocks.create_block_type(name="App", slug="app")
        parent_fields = {"title": "App", "properties": {"db": {"title": "Db"}}, "required": ["db"],
                         "block_schema_references": {"db": {"block_type_slug": "database", "block_schema_checksum": "x"}}}
        parent_schema = blocks.create_block_schema(fields=parent_fields, block_type_id=parent_type.id)[0]
        client.post("/blocks/new/app/", {"block_name": "web", "db": str(document.id)})
        parent = BlockDocument.objects.get(name="web")
        assert stored(parent)["db"]["password"] == SECRET
        body = client.get(f"/blocks/{parent.id}/").content.decode()
        assert f'<option value="{document.id}" selected>warehouse</option>' in body
        assert parent_schema.id

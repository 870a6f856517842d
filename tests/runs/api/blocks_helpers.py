"""Building blocks for the block API tests: a type, a schema with secret fields, documents."""

SECRET_FIELDS_SCHEMA = {
    "title": "Credentials",
    "type": "object",
    "block_type_slug": "credentials",
    "secret_fields": ["password", "nested.token", "extras.*"],
    "block_schema_references": {},
    "properties": {
        "username": {"type": "string"},
        "password": {"type": "string", "format": "password", "writeOnly": True},
        "nested": {"type": "object"},
        "extras": {"type": "object"},
    },
}


def make_block_type(api, name="Credentials", slug="credentials", **extra):
    response = api.post("/block_types/", {"name": name, "slug": slug, **extra})
    assert response.status_code == 201, response.data
    return response.data


def make_block_schema(api, block_type, fields=None, capabilities=None, version="non-versioned"):
    body = {"fields": fields if fields is not None else SECRET_FIELDS_SCHEMA, "block_type_id": block_type["id"],
            "capabilities": capabilities or [], "version": version}
    response = api.post("/block_schemas/", body)
    assert response.status_code in (200, 201), response.data
    return response.data


def make_block_document(api, schema, name="prod", data=None, is_anonymous=False):
    body = {"name": name, "data": data if data is not None else {}, "block_schema_id": schema["id"],
            "block_type_id": schema["block_type_id"], "is_anonymous": is_anonymous}
    response = api.post("/block_documents/", body)
    assert response.status_code == 201, response.data
    return response.data

import uuid

FILTER = {"object": "flow_run", "property": "state", "type": "state", "operation": "or", "value": ["FAILED"]}


def test_put_creates_then_replaces_by_name(api):
    created = api.request("put", "/saved_searches/", {"name": "failures", "filters": [FILTER]})
    assert created.status_code == 201
    assert created.data["filters"] == [FILTER]
    replaced = api.request("put", "/saved_searches/", {"name": "failures", "filters": []})
    assert replaced.status_code == 200
    assert replaced.data["id"] == created.data["id"]
    assert api.get(f"/saved_searches/{created.data['id']}").data["filters"] == []


def test_filter_pages_by_name_and_delete(api):
    for name in ("b", "a", "c"):
        api.request("put", "/saved_searches/", {"name": name})
    listed = api.post("/saved_searches/filter", {"limit": 2, "offset": 1}).data
    assert [s["name"] for s in listed] == ["b", "c"]
    target = listed[0]["id"]
    assert api.delete(f"/saved_searches/{target}").status_code == 204
    assert api.delete(f"/saved_searches/{target}").status_code == 404
    assert api.get(f"/saved_searches/{target}").data == {"detail": "Saved search not found"}


def test_bad_input_is_422(api):
    assert api.request("put", "/saved_searches/", {"filters": []}).status_code == 422
    assert api.request("put", "/saved_searches/", {"name": "x", "filters": [{"object": "flow_run"}]}).status_code == 422
    assert api.request("put", "/saved_searches/", {"name": "", "filters": []}).status_code == 422
    assert api.get(f"/saved_searches/{uuid.uuid4()}").status_code == 404

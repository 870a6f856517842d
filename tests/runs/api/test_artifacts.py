import uuid

import pytest

from runs.models import Artifact, ArtifactCollection


def create(api, **fields):
    response = api.post("/artifacts/", {"type": "markdown", "data": "# hi", **fields})
    assert response.status_code == 201, response.data
    return response.data


class TestCreateArtifact:
    @pytest.mark.parametrize("kind,data", [
        ("markdown", "# Title"),
        ("table", '[{"a": 1, "b": 2}]'),
        ("link", "[Example](https://example.com)"),
        ("image", "https://example.com/x.png"),
        ("progress", 42.5),
        ("result", {"storage_key": "k"}),
    ])
    def test_keeps_each_kind_of_data_as_given(self, api, kind, data):
        created = create(api, type=kind, data=data, key=f"k-{kind}")
        assert api.get(f"/artifacts/{created['id']}").data["data"] == data
        assert created["type"] == kind

    def test_returns_metadata_under_its_wire_name(self, api):
        created = create(api, metadata_={"rows": "10"})
        assert created["metadata_"] == {"rows": "10"}

    def test_shortens_long_metadata_values(self, api):
        created = create(api, metadata_={"long": "x" * 600})
        assert created["metadata_"]["long"] == "x" * 500 + "..."

    @pytest.mark.parametrize("key", ["Upper", "under_score", "sp ace"])
    def test_refuses_keys_outside_the_rules(self, api, key):
        assert api.post("/artifacts/", {"key": key, "type": "markdown", "data": "x"}).status_code == 422
        assert not Artifact.objects.exists()

    def test_refuses_a_malformed_run_id(self, api):
        assert api.post("/artifacts/", {"type": "markdown", "flow_run_id": "nope"}).status_code == 422


class TestLatestArtifact:
    def test_the_newest_artifact_of_a_key_is_the_latest(self, api):
        create(api, key="report", data="v1")
        second = create(api, key="report", data="v2")
        latest = api.get("/artifacts/report/latest")
        assert latest.status_code == 200
        assert (latest.data["id"], latest.data["data"]) == (second["id"], "v2")

    def test_unknown_key_is_404(self, api):
        assert api.get("/artifacts/none/latest").data == {"detail": "Artifact not found."}

    def test_deleting_the_latest_falls_back_to_the_previous_one(self, api):
        first = create(api, key="report", data="v1")
        second = create(api, key="report", data="v2")
        assert api.delete(f"/artifacts/{second['id']}").status_code == 204
        assert api.get("/artifacts/report/latest").data["id"] == first["id"]
        api.delete(f"/artifacts/{first['id']}")
        assert api.get("/artifacts/report/latest").status_code == 404
        assert not ArtifactCollection.objects.exists()

    def test_updating_the_latest_updates_the_collection(self, api):
        progress = create(api, key="prog", type="progress", data=0.0)
        assert api.patch(f"/artifacts/{progress['id']}", {"data": 75.0}).status_code == 204
        collections = api.post("/artifacts/latest/filter", {"artifacts": {"key": {"any_": ["prog"]}}}).data
        assert collections[0]["data"] == 75.0
        assert collections[0]["latest_id"] == progress["id"]


class TestFilterArtifacts:
    @pytest.fixture
    def run_ids(self, make_flow_run):
        return make_flow_run()["id"], make_flow_run()["id"]

    @pytest.fixture(autouse=True)
    def several(self, api, run_ids):
        first_run, second_run = run_ids
        create(api, key="a", type="markdown", flow_run_id=first_run)
        create(api, key="a", type="markdown", flow_run_id=second_run)
        create(api, key="b", type="table", data="[]", flow_run_id=first_run)
        create(api, type="progress", data=1.0)

    def test_the_artifact_ls_body_lists_the_latest_per_key(self, api):
        body = {"artifacts": None, "flow_runs": None, "task_runs": None, "limit": 100, "offset": 0, "sort": "KEY_ASC"}
        response = api.post("/artifacts/latest/filter", body)
        assert response.status_code == 200
        assert [c["key"] for c in response.data] == ["a", "b"]

    def test_all_artifacts_with_nulls_meaning_not_provided(self, api):
        body = {"artifacts": None, "limit": None, "offset": None, "sort": None}
        assert len(api.post("/artifacts/filter", body).data) == 4

    def test_by_key_type_and_existence_of_key(self, api):
        assert len(api.post("/artifacts/filter", {"artifacts": {"key": {"any_": ["a"]}}}).data) == 2
        assert len(api.post("/artifacts/filter", {"artifacts": {"type": {"not_any_": ["markdown"]}}}).data) == 2
        assert len(api.post("/artifacts/filter", {"artifacts": {"key": {"exists_": False}}}).data) == 1

    def test_by_flow_run(self, api, run_ids):
        by_id = api.post("/artifacts/filter", {"artifacts": {"flow_run_id": {"any_": [run_ids[0]]}}}).data
        assert sorted(a["key"] for a in by_id) == ["a", "b"]
        by_run_filter = api.post("/artifacts/filter", {"flow_runs": {"id": {"any_": [run_ids[1]]}}}).data
        assert [a["key"] for a in by_run_filter] == ["a"]

    def test_history_of_a_key_newest_first(self, api, run_ids):
        history = api.post("/artifacts/filter", {"artifacts": {"key": {"any_": ["a"]}}, "sort": "CREATED_DESC"}).data
        assert [a["flow_run_id"] for a in history] == [run_ids[1], run_ids[0]]

    def test_counts(self, api):
        assert api.post("/artifacts/count", {}).data == 4
        assert api.post("/artifacts/count", {"artifacts": {"type": {"any_": ["table"]}}}).data == 1
        assert api.post("/artifacts/latest/count", {}).data == 2
        assert api.post("/artifacts/latest/count", {"artifacts": {"key": {"like_": "b"}}}).data == 1


class TestUpdateAndDeleteArtifact:
    def test_patch_changes_only_the_given_fields(self, api):
        created = create(api, description="d", metadata_={"m": "1"})
        assert api.patch(f"/artifacts/{created['id']}", {"description": "new"}).status_code == 204
        read = api.get(f"/artifacts/{created['id']}").data
        assert (read["description"], read["data"], read["metadata_"]) == ("new", "# hi", {"m": "1"})

    def test_missing_artifact_is_404(self, api):
        assert api.patch(f"/artifacts/{uuid.uuid4()}", {"data": 1}).status_code == 404
        assert api.delete(f"/artifacts/{uuid.uuid4()}").status_code == 404
        assert api.get(f"/artifacts/{uuid.uuid4()}").status_code == 404

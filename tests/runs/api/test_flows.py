import uuid


class TestCreateFlow:
    def test_it_creates_a_new_flow_with_201(self, api):
        response = api.post("/flows/", {"name": "etl", "tags": ["a"], "labels": {}})
        assert response.status_code == 201
        assert response.data["name"] == "etl"
        assert response.data["tags"] == ["a"]

    def test_it_returns_the_existing_flow_with_200(self, api):
        first = api.post("/flows/", {"name": "etl"}).data
        second = api.post("/flows/", {"name": "etl"})
        assert second.status_code == 200
        assert second.data["id"] == first["id"]

    def test_it_refuses_a_wrong_type_with_422(self, api):
        response = api.post("/flows/", {"name": 5})
        assert response.status_code == 422
        assert "detail" in response.data

    def test_it_refuses_malformed_json_with_a_4xx(self, api):
        response = api.post("/flows/", raw="{not json")
        assert 400 <= response.status_code < 500
        assert "detail" in response.data


class TestReadFlow:
    def test_it_reads_by_id_and_by_name(self, api, flow):
        assert api.get(f"/flows/{flow['id']}").data["name"] == "etl"
        assert api.get("/flows/name/etl").data["id"] == flow["id"]

    def test_it_answers_404_for_an_unknown_flow(self, api):
        response = api.get(f"/flows/{uuid.uuid4()}")
        assert response.status_code == 404
        assert response.data == {"detail": "Flow not found"}

    def test_it_answers_422_for_a_malformed_id(self, api):
        assert api.get("/flows/not-a-uuid").status_code == 422


class TestFilterFlows:
    def test_nulls_mean_not_provided(self, api, flow):
        body = {
            "flows": {"operator": "and_", "id": {"any_": [flow["id"]]}, "name": None, "tags": None},
            "flow_runs": None, "task_runs": None, "deployments": None, "work_pools": None,
            "sort": None, "limit": None, "offset": 0,
        }
        response = api.post("/flows/filter", body)
        assert response.status_code == 200
        assert [f["id"] for f in response.data] == [flow["id"]]

    def test_it_filters_by_name_like_and_sorts(self, api):
        for name in ("beta", "alpha", "gamma-x"):
            api.post("/flows/", {"name": name})
        names = [f["name"] for f in api.post("/flows/filter", {"sort": "NAME_DESC"}).data]
        assert names == ["gamma-x", "beta", "alpha"]
        like = api.post("/flows/filter", {"flows": {"name": {"like_": "ph"}}}).data
        assert [f["name"] for f in like] == ["alpha"]

    def test_it_filters_by_tags(self, api):
        api.post("/flows/", {"name": "tagged", "tags": ["prod", "etl"]})
        api.post("/flows/", {"name": "other", "tags": ["prod-like"]})
        found = api.post("/flows/filter", {"flows": {"tags": {"all_": ["prod"]}}}).data
        assert [f["name"] for f in found] == ["tagged"]

    def test_it_counts_and_paginates(self, api):
        for index in range(5):
            api.post("/flows/", {"name": f"flow-{index}"})
        assert api.post("/flows/count", {}).data == 5
        page = api.post("/flows/paginate", {"page": 2, "limit": 2, "sort": "NAME_ASC"}).data
        assert [f["name"] for f in page["results"]] == ["flow-2", "flow-3"]
        assert (page["count"], page["pages"], page["page"]) == (5, 3, 2)

    def test_it_refuses_a_limit_above_the_maximum(self, api):
        assert api.post("/flows/filter", {"limit": 10_000}).status_code == 422


class TestDeleteFlow:
    def test_it_deletes_and_then_answers_404(self, api, flow):
        assert api.delete(f"/flows/{flow['id']}").status_code == 204
        assert api.delete(f"/flows/{flow['id']}").status_code == 404

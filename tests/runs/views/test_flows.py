import uuid


class TestFlowList:
    def test_it_says_so_when_there_are_no_flows(self, client):
        body = client.get("/flows/").content.decode()
        assert "No flows yet." in body

    def test_it_lists_flows_with_run_counts_and_last_run_state(self, client, records):
        etl = records.flow(name="etl")
        records.flow(name="idle")
        records.flow_run(etl, name="first", states=("RUNNING", "COMPLETED"))
        last = records.flow_run(etl, name="second", states=("RUNNING", "FAILED"))
        response = client.get("/flows/")
        flows = {flow.name: flow for flow in response.context["flows"]}
        assert flows["etl"].run_count == 2
        assert flows["etl"].last_run_id == last.id
        assert flows["etl"].last_run_state_type == "FAILED"
        assert not flows["idle"].run_count
        assert "never run" in response.content.decode()

    def test_search_narrows_the_list_and_an_htmx_search_returns_only_the_table(self, htmx_client, records):
        records.flow(name="billing-sync")
        records.flow(name="etl")
        response = htmx_client.fragment("/flows/", "flow-table", {"q": "bill"})
        body = response.content.decode()
        assert body.lstrip().startswith('<div id="flow-table">')
        assert "billing-sync" in body and ">etl<" not in body

    def test_the_list_costs_the_same_queries_for_many_flows(self, client, records, django_assert_max_num_queries):
        for index in range(20):
            records.flow_run(records.flow(name=f"flow-{index}"), states=("RUNNING", "COMPLETED"))
        with django_assert_max_num_queries(4):
            client.get("/flows/")


class TestFlowPage:
    def test_it_shows_the_flow_and_only_its_runs(self, client, records):
        etl = records.flow(name="etl")
        other = records.flow(name="other")
        mine = records.flow_run(etl, name="mine")
        records.flow_run(other, name="not-mine")
        response = client.get(f"/flows/{etl.id}/")
        assert response.status_code == 200
        assert [run.id for run in response.context["runs"]] == [mine.id]

    def test_an_unknown_flow_is_a_404(self, client):
        response = client.get(f"/flows/{uuid.uuid4()}/")
        assert response.status_code == 404
        assert "Flow not found" in response.content.decode()

    def test_a_flow_without_runs_says_so(self, client, records):
        flow = records.flow(name="lonely")
        assert "No flow runs yet." in client.get(f"/flows/{flow.id}/").content.decode()

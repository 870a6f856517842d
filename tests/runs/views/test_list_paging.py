"""Long lists are cut: the deployments and blocks pages render one page of rows and the concurrency
page a few holders per limit, not everything (hundreds of rows took longer to render than the 200 ms
a page may take, see bench/dashboard.py)."""

import uuid

from runs.domain import blocks, concurrency, deployments
from runs.models import Deployment

FIELDS = {
    "title": "Endpoint", "block_type_slug": "endpoint", "type": "object",
    "properties": {"url": {"type": "string", "title": "URL", "position": 0}},
    "required": ["url"], "block_schema_references": {},
}


def make_deployments(records, count: int) -> list[Deployment]:
    flow = records.flow()
    return [deployments.create_deployment(flow_id=flow.id, name=f"deploy-{index:03d}")[0] for index in range(count)]


class TestDeploymentPages:
    def test_the_first_page_holds_fifty_and_says_how_many_there_are(self, client, records):
        make_deployments(records, 52)
        page = client.get("/deployments/").content.decode()
        assert "deploy-049" in page and "deploy-050" not in page
        assert "1–50 of 52" in page and "page=2" in page

    def test_the_second_page_holds_the_rest(self, client, records):
        make_deployments(records, 52)
        page = client.get("/deployments/", {"page": 2}).content.decode()
        assert "deploy-050" in page and "deploy-051" in page and "deploy-049" not in page

    def test_the_refreshing_table_keeps_its_page_and_search(self, htmx_client, records):
        make_deployments(records, 52)
        fragment = htmx_client.fragment("/deployments/", "deployment-table", {"q": "deploy", "page": 2}).content.decode()
        assert 'hx-get="/deployments/?q=deploy&amp;page=2"' in fragment
        assert "deploy-051" in fragment and "deploy-000" not in fragment

    def test_a_page_that_is_not_a_number_is_a_400(self, client, db):
        assert client.get("/deployments/", {"page": "x"}).status_code == 400


class TestBlockPages:
    def test_a_hundred_documents_a_page_with_the_filters_kept_in_the_links(self, client, db):
        block_type = blocks.create_block_type(name="Endpoint", slug="endpoint")
        schema = blocks.create_block_schema(fields=FIELDS, block_type_id=block_type.id)[0]
        for index in range(101):
            blocks.create_block_document(name=f"endpoint-{index:03d}", data={"url": "https://example.com"},
                                         block_schema_id=schema.id, block_type_id=block_type.id)
        first = client.get("/blocks/", {"type": "endpoint"}).content.decode()
        assert "endpoint-099" in first and "endpoint-100" not in first
        assert "1–100 of 101" in first and "type=endpoint&amp;page=2" in first
        second = client.get("/blocks/", {"type": "endpoint", "page": 2}).content.decode()
        assert "endpoint-100" in second and "endpoint-099" not in second


class TestConcurrencyHolders:
    def test_a_busy_limit_names_its_oldest_five_holders_and_counts_the_rest(self, client, db):
        concurrency.create_concurrency_limit(name="warehouse", limit=50)
        holders = []
        for _ in range(8):
            holders.append(uuid.uuid4())
            concurrency.acquire_slots(names=["warehouse"], slots=1, lease_duration=60, holder_type="task_run",
                                      holder_id=holders[-1])
        page = client.get("/concurrency/").content.decode()
        shown = [holder for holder in holders if str(holder)[:10] in page]
        assert shown == holders[:5]
        assert "and 3 more" in page
        assert ">Reset</button>" in page

"""Artifacts, blocks and variables pages in Chromium against the real server; artifacts come from a real flow."""

import uuid

import httpx
import pytest
from playwright.sync_api import expect

from tests.e2e.harness import run_flow_script

from .conftest import screenshot

pytestmark = pytest.mark.browser

HOSTILE_MARKDOWN = "\n".join([
    "# Quarterly report",
    "Totals are **final**. See [the docs](https://example.com/docs).",
    "<script>window.__pwned = 'script'</script>",
    '<img src=x onerror="window.__pwned = \'img\'">',
    "[click me](javascript:window.__pwned='link')",
    '<a href="javascript:alert(1)" onclick="window.__pwned=\'a\'">raw anchor</a>',
    "<svg onload=\"window.__pwned='svg'\"></svg>",
])

ARTIFACT_FLOW = """
from prefect import flow
from prefect.artifacts import create_markdown_artifact, create_progress_artifact, create_table_artifact

@flow
def hostile_report(key: str, markdown: str):
    create_markdown_artifact(markdown, key=key, description="<b>desc</b>")
    create_table_artifact([{"name": "<i>x</i>", "value": 1}], key=key + "-table")
    create_progress_artifact(40.0, key=key + "-progress")

hostile_report(KEY, MARKDOWN)
report(ok=True)
"""


@pytest.fixture(scope="module")
def artifact_key(e2e_server, tmp_path_factory):
    """The artifacts flow, run once by the real client."""
    key = f"hostile-{uuid.uuid4().hex[:8]}"
    source = f"KEY = {key!r}\nMARKDOWN = {HOSTILE_MARKDOWN!r}\n" + ARTIFACT_FLOW
    outcome = run_flow_script(e2e_server.api_url, source, workdir=tmp_path_factory.mktemp("hostile"))
    if outcome.returncode != 0 or outcome.result is None:
        pytest.fail(outcome.describe())
    return key


class TestArtifactPages:
    def test_hostile_markdown_renders_inert(self, page, dashboard_url, artifact_key):
        dialogs = []
        page.on("dialog", lambda dialog: dialogs.append(dialog.message))
        page.goto(f"{dashboard_url}/artifacts/key/{artifact_key}/")
        body = page.locator(".artifact-body")
        expect(body.locator("h1")).to_have_text("Quarterly report")
        expect(body.locator("strong")).to_have_text("final")
        expect(body).to_contain_text("<script>window.__pwned = 'script'</script>")  # shown as text
        screenshot(page, "artifact-hostile-markdown")
        page.wait_for_timeout(300)
        assert page.evaluate("window.__pwned") is None
        assert dialogs == []
        assert body.locator("script, img, svg, iframe").count() == 0
        hrefs = body.locator("a").evaluate_all("links => links.map(a => a.getAttribute('href'))")
        assert hrefs == ["https://example.com/docs"]
        handlers = body.evaluate(
            "root => [...root.querySelectorAll('*')].flatMap(el => [...el.attributes].map(a => a.name))"
            ".filter(name => name.startsWith('on'))")
        assert handlers == []

    def test_tables_render_as_tables_and_progress_as_a_bar(self, page, dashboard_url, artifact_key):
        page.goto(f"{dashboard_url}/artifacts/key/{artifact_key}-table/")
        expect(page.locator(".artifact-body table th").first).to_have_text("name")
        expect(page.locator(".artifact-body table td").first).to_have_text("<i>x</i>")
        page.goto(f"{dashboard_url}/artifacts/key/{artifact_key}-progress/")
        assert page.locator("progress.artifact-progress").get_attribute("value") == "40.0"

    def test_the_list_links_to_the_key_history(self, page, dashboard_url, artifact_key):
        page.goto(f"{dashboard_url}/artifacts/?q={artifact_key}")
        page.get_by_role("link", name=artifact_key, exact=True).click()
        expect(page.locator("h1").first).to_have_text(artifact_key)


class TestVariablesPage:
    def test_create_edit_and_delete_in_place(self, page, dashboard_url, e2e_server):
        name = f"browser_var_{uuid.uuid4().hex[:8]}"
        page.goto(f"{dashboard_url}/variables/")
        page.get_by_label("New variable name").fill(name)
        page.get_by_label("New variable value").fill('{"n": 1}')
        page.get_by_role("button", name="Add variable").click()
        row = page.locator("tr", has_text=name)
        expect(row).to_contain_text('{"n": 1}')
        row.get_by_role("button", name="Edit").click()
        page.locator(f"tr:has(input[value='{name}']) input[name=value]").fill("2")
        page.get_by_role("button", name="Save").click()
        expect(page.locator("tr", has_text=name)).to_contain_text("2")
        with httpx.Client(base_url=e2e_server.api_url + "/") as api:
            assert api.get(f"variables/name/{name}").json()["value"] == 2
            page.locator("tr", has_text=name).get_by_role("button", name="Delete").click()
            expect(page.locator("tr", has_text=name)).to_have_count(0)
            assert api.get(f"variables/name/{name}").status_code == 404


SECRET_FLOW = """
from prefect.blocks.system import Secret

Secret(value=VALUE).save(NAME)
report(ok=True)
"""


class TestBlocksPage:
    def test_a_secret_is_masked_and_saving_the_form_keeps_it(self, page, dashboard_url, e2e_server, tmp_path):
        name, value = f"browser-secret-{uuid.uuid4().hex[:8]}", f"value-{uuid.uuid4().hex}"
        outcome = run_flow_script(e2e_server.api_url, f"NAME = {name!r}\nVALUE = {value!r}\n" + SECRET_FLOW,
                                  workdir=tmp_path)
        assert outcome.returncode == 0, outcome.describe()
        page.goto(f"{dashboard_url}/blocks/?type=secret")
        page.get_by_role("link", name=name, exact=True).click()
        expect(page.locator("#field-value")).to_have_value("********")
        assert value not in page.content()
        screenshot(page, "block-secret-form")
        page.get_by_role("button", name="Save").click()
        expect(page.locator(".message-success")).to_contain_text(name)
        with httpx.Client(base_url=e2e_server.api_url + "/") as api:
            loaded = api.get(f"block_types/slug/secret/block_documents/name/{name}", params={"include_secrets": "true"})
            assert loaded.json()["data"]["value"] == value

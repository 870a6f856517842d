"""Artifact pages, and the markdown converter that must never let markup through."""

import re

import pytest

from runs.domain import artifacts
from runs.views.artifacts import render_markdown, table_rows

HOSTILE = [
    "<script>alert(1)</script>",
    '<img src=x onerror="alert(1)">',
    "[click](javascript:alert(1))",
    "[click](JaVaScRiPt:alert(1))",
    '[x](https://ok.example/" onmouseover="alert(1))',
    "<a href='javascript:alert(1)'>a</a>",
    "![img](javascript:alert(1))",
    "[data](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
    "<svg/onload=alert(1)>",
    "<iframe src=https://evil.example></iframe>",
    "**<b onclick=alert(1)>bold</b>**",
    "`<script>alert(1)</script>`",
]


def tags_in(html: str) -> set[str]:
    return {tag.lower() for tag in re.findall(r"<\s*([a-zA-Z0-9]+)", html)}


class TestRenderMarkdown:
    def test_renders_the_safe_subset(self):
        html = render_markdown("# Title\n\nSome **bold**, *em* and `code`.\n\n- one\n- two\n\n1. first\n\n"
                               "[site](https://example.com/a?b=1&c=2)\n\n```\nx < y\n```")
        assert "<h1>Title</h1>" in html
        assert "<strong>bold</strong>" in html and "<em>em</em>" in html and "<code>code</code>" in html
        assert "<ul>\n<li>one</li>\n<li>two</li>\n</ul>" in html
        assert "<ol>\n<li>first</li>\n</ol>" in html
        assert '<a href="https://example.com/a?b=1&amp;c=2" rel="noopener noreferrer nofollow"' in html
        assert "<pre><code>x &lt; y</code></pre>" in html

    @pytest.mark.parametrize("source", HOSTILE)
    def test_hostile_input_is_rendered_inert(self, source):
        html = render_markdown(source)
        assert tags_in(html) <= {"p", "a", "strong", "em", "code"}
        lowered = html.lower()
        assert 'href="javascript' not in lowered and 'href="data' not in lowered
        assert not re.search(r"<[^>]*\son\w+\s*=", html)  # no event handler attribute inside any tag
        assert "<script" not in lowered and "<img" not in lowered and "<iframe" not in lowered

    def test_underscores_inside_identifiers_are_not_emphasis(self):
        assert str(render_markdown("obj.__dict and a__b__c and snake_case_name")) == "<p>obj.__dict and a__b__c and snake_case_name</p>"

    def test_an_unsafe_link_keeps_only_its_text(self):
        assert str(render_markdown("[click](javascript:alert(1))")) == "<p>click</p>"


class TestTableRows:
    def test_rows_of_objects_as_json_text(self):
        assert table_rows('[{"a": 1, "b": 2}, {"a": 3, "c": 4}]') == (["a", "b", "c"], [[1, 2, ""], [3, "", 4]])

    def test_columns_of_values(self):
        assert table_rows({"a": [1, 3], "b": [2]}) == (["a", "b"], [[1, 2], [3, ""]])

    def test_rows_of_values_and_garbage(self):
        assert table_rows([[1, 2], [3, 4]]) == ([], [[1, 2], [3, 4]])
        assert table_rows("not json") == ([], [])


@pytest.fixture
def made(db):
    return {
        "md": artifacts.create_artifact(key="report", type="markdown", data="# Old"),
        "md2": artifacts.create_artifact(key="report", type="markdown", data="# New <script>alert(1)</script>"),
        "table": artifacts.create_artifact(key="tbl", type="table", data='[{"col": "<b>x</b>"}]'),
        "progress": artifacts.create_artifact(key="prog", type="progress", data=140.0),
        "link": artifacts.create_artifact(key="lnk", type="link", data="javascript:alert(1)"),
        "image": artifacts.create_artifact(key="img", type="image", data="https://example.com/x.png"),
    }


class TestArtifactPages:
    def test_the_list_shows_the_latest_of_each_key_and_filters_by_type(self, client, made):
        body = client.get("/artifacts/").content.decode()
        for key in ("report", "tbl", "prog", "lnk", "img"):
            assert f"/artifacts/key/{key}/" in body
        tables_only = client.get("/artifacts/", {"type": "table"}).content.decode()
        assert "/artifacts/key/tbl/" in tables_only and "/artifacts/key/report/" not in tables_only

    def test_a_key_page_renders_the_latest_and_lists_the_history(self, client, made):
        body = client.get("/artifacts/key/report/").content.decode()
        assert "<h1>New &lt;script&gt;alert(1)&lt;/script&gt;</h1>" in body
        assert f"/artifacts/{made['md'].id}/" in body and f"/artifacts/{made['md2'].id}/" in body

    def test_tables_render_as_tables_with_escaped_cells(self, client, made):
        body = client.get(f"/artifacts/{made['table'].id}/").content.decode()
        assert "<th>col</th>" in body and "<td>&lt;b&gt;x&lt;/b&gt;</td>" in body

    def test_progress_renders_as_a_bar_clamped_to_100(self, client, made):
        body = client.get(f"/artifacts/{made['progress'].id}/").content.decode()
        assert '<progress class="artifact-progress" max="100" value="100.0">' in body

    def test_links_and_images_only_for_http_urls(self, client, made):
        link = client.get(f"/artifacts/{made['link'].id}/").content.decode()
        assert 'href="javascript' not in link and "<code>javascript:alert(1)</code>" in link
        image = client.get(f"/artifacts/{made['image'].id}/").content.decode()
        assert '<img class="artifact-image" src="https://example.com/x.png"' in image

    def test_unknown_key_and_id_are_404(self, client, made):
        assert client.get("/artifacts/key/none/").status_code == 404
        assert client.get("/artifacts/00000000-0000-0000-0000-000000000000/").status_code == 404

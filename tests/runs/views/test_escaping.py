"""Whatever a flow sends is shown as text: no markup from run names, tags, parameters or logs."""

SCRIPT = "<script>alert('x')</script>"
ESCAPED = "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;"


class TestEscaping:
    def test_run_names_tags_and_parameters_are_escaped_on_every_page(self, client, htmx_client, records):
        flow = records.flow(name=f"flow{SCRIPT}")
        run = records.flow_run(flow, name=f"run{SCRIPT}", tags=[f"tag{SCRIPT}"], parameters={"p": SCRIPT},
                               states=("RUNNING", "FAILED"))
        records.task_run(run, name=f"task{SCRIPT}")
        for path in ["/", "/runs/", f"/runs/{run.id}/", "/flows/", f"/flows/{flow.id}/"]:
            body = client.get(path).content.decode()
            assert SCRIPT not in body, path
            assert ESCAPED in body, path

    def test_log_lines_are_escaped(self, htmx_client, records):
        run = records.flow_run(records.flow())
        records.logs(run, [f"<img src=x onerror=alert(1)> and {SCRIPT}"])
        body = htmx_client.fragment(f"/runs/{run.id}/logs/", "log-lines").content.decode()
        assert "<img" not in body and SCRIPT not in body
        assert "&lt;img src=x onerror=alert(1)&gt;" in body

    def test_a_search_term_is_escaped_when_shown_back(self, client):
        body = client.get("/flows/", {"q": SCRIPT}).content.decode()
        assert SCRIPT not in body

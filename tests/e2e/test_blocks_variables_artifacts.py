"""Blocks, variables and artifacts through the real prefect client and CLI against the real server."""

import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from .harness import clean_environ, run_flow_script

pytestmark = pytest.mark.e2e

PREFECT_CLI = str(Path(sys.executable).with_name("prefect"))


def ok(response, status: int = 200):
    assert response.status_code == status, f"{response.request.url}: {response.status_code} {response.text}"
    return response.json()


@pytest.fixture(scope="module")
def suffix():
    return uuid.uuid4().hex[:8]


@pytest.fixture
def cli(e2e_server, tmp_path):
    def run(*args: str, expect: int = 0) -> str:
        environ = clean_environ(PREFECT_API_URL=e2e_server.api_url, PREFECT_HOME=str(tmp_path / "cli-home"),
                                COLUMNS="250")
        done = subprocess.run([PREFECT_CLI, "--no-prompt", *args], env=environ, capture_output=True, text=True,
                              timeout=120, stdin=subprocess.DEVNULL)
        assert done.returncode == expect, f"prefect {' '.join(args)}: exit {done.returncode}\n{done.stdout}\n{done.stderr}"
        return done.stdout

    return run


BLOCKS_FLOW = """
from typing import Any
from prefect import flow
from prefect.blocks.core import Block
from prefect.blocks.system import Secret
from pydantic import SecretStr

class E2eJson(Block):
    value: Any

class E2eCredentials(Block):
    token: SecretStr
    host: str

class E2eConnection(Block):
    credentials: E2eCredentials
    database: str

@flow
def blocks_flow(suffix: str):
    Secret(value="first-" + suffix).save("secret-" + suffix)
    Secret(value="topsecret-" + suffix).save("secret-" + suffix, overwrite=True)
    E2eJson(value={"rows": [1, 2, 3], "ok": True}).save("json-" + suffix)
    credentials = E2eCredentials(token="tok-" + suffix, host="db.local")
    credentials.save("creds-" + suffix)
    E2eConnection(credentials=credentials, database="sales").save("conn-" + suffix)
    E2eConnection(credentials=E2eCredentials(token="inline-" + suffix, host="h2"), database="hr").save("inline-" + suffix)
    connection = E2eConnection.load("conn-" + suffix)
    inline = E2eConnection.load("inline-" + suffix)
    return {
        "secret": Secret.load("secret-" + suffix).get(),
        "json": E2eJson.load("json-" + suffix).value,
        "nested_token": connection.credentials.token.get_secret_value(),
        "nested_host": connection.credentials.host,
        "inline_token": inline.credentials.token.get_secret_value(),
    }

report(**blocks_flow("{suffix}"))
"""


@pytest.fixture(scope="module")
def loaded(e2e_server, tmp_path_factory):
    """The blocks flow, run once for the module."""
    suffix = uuid.uuid4().hex[:8]
    outcome = run_flow_script(e2e_server.api_url, BLOCKS_FLOW.replace("{suffix}", suffix),
                              workdir=tmp_path_factory.mktemp("blocks"))
    if outcome.returncode != 0 or outcome.result is None:
        pytest.fail(f"The blocks flow did not finish cleanly: {outcome.describe()}")
    return {"suffix": suffix, **outcome.result}


class TestBlocks:

    def test_a_secret_saved_and_overwritten_loads_its_latest_value(self, loaded):
        assert loaded["secret"] == f"topsecret-{loaded['suffix']}"

    def test_a_json_block_loads_its_value(self, loaded):
        assert loaded["json"] == {"rows": [1, 2, 3], "ok": True}

    def test_nested_blocks_saved_by_reference_and_inline_load_with_their_secrets(self, loaded):
        assert loaded["nested_token"] == f"tok-{loaded['suffix']}"
        assert loaded["nested_host"] == "db.local"
        assert loaded["inline_token"] == f"inline-{loaded['suffix']}"

    def test_the_secret_is_masked_without_include_secrets(self, api, loaded):
        document = ok(api.get(f"block_types/slug/secret/block_documents/name/secret-{loaded['suffix']}"))
        assert document["data"]["value"] == "********"

    def test_the_secret_is_not_stored_in_clear_text(self, e2e_server, loaded):
        if e2e_server.backend != "sqlite":
            pytest.skip("the raw database file is only readable for SQLite; tests/runs/api covers PostgreSQL rows")
        secret = f"topsecret-{loaded['suffix']}".encode()
        for path in e2e_server.workdir.glob("server.db*"):
            assert secret not in path.read_bytes(), path

    def test_cli_lists_inspects_and_deletes_blocks(self, cli, loaded):
        suffix = loaded["suffix"]
        assert f"secret-{suffix}" in cli("block", "ls")
        inspected = cli("block", "inspect", f"secret/secret-{suffix}")
        assert "********" in inspected and f"topsecret-{suffix}" not in inspected
        cli("block", "delete", f"e2ejson/json-{suffix}")
        assert f"json-{suffix}" not in cli("block", "ls")


VARIABLES_FLOW = """
from prefect import flow
from prefect.variables import Variable

@flow
def variables_flow(name: str):
    Variable.set(name, {"threshold": 3}, overwrite=True)
    first = Variable.get(name)
    Variable.set(name, [1, "two"], overwrite=True)
    second = Variable.get(name)
    Variable.unset(name)
    return {"first": first, "second": second, "after_unset": Variable.get(name, default="gone")}

report(**variables_flow("{name}"))
"""


class TestVariables:
    def test_set_read_overwritten_and_deleted_from_a_flow(self, run_flow, suffix):
        result = run_flow(VARIABLES_FLOW.replace("{name}", f"flow_var_{suffix}")).result
        assert result == {"first": {"threshold": 3}, "second": [1, "two"], "after_unset": "gone"}

    def test_set_read_overwritten_and_deleted_from_the_cli(self, cli, api, suffix):
        name = f"cli_var_{suffix}"
        cli("variable", "set", name, '{"a": 1}')
        assert ok(api.get(f"variables/name/{name}"))["value"] == {"a": 1}
        cli("variable", "set", name, "second", "--overwrite")
        assert cli("variable", "get", name).strip() == '"second"'  # the CLI prints the JSON value
        assert name in cli("variable", "ls")
        cli("variable", "unset", name)
        assert api.get(f"variables/name/{name}").status_code == 404


ARTIFACTS_FLOW = """
from prefect import flow, task
from prefect.artifacts import (create_image_artifact, create_link_artifact, create_markdown_artifact,
                               create_progress_artifact, create_table_artifact, update_progress_artifact)
from prefect.runtime import flow_run

@task
def in_task(prefix):
    create_markdown_artifact("from a task", key=prefix + "-task")

@flow
def artifacts_flow(prefix: str):
    create_markdown_artifact("# Report v1", key=prefix + "-md", description="first")
    create_markdown_artifact("# Report v2", key=prefix + "-md", description="second")
    create_table_artifact([{"a": 1, "b": 2}, {"a": 3, "b": 4}], key=prefix + "-table")
    create_link_artifact("https://example.com/x", link_text="Example", key=prefix + "-link")
    create_image_artifact("https://example.com/x.png", key=prefix + "-image")
    progress = create_progress_artifact(0.0, key=prefix + "-progress")
    update_progress_artifact(progress, 60.0)
    in_task(prefix)
    return {"flow_run_id": str(flow_run.id)}

report(**artifacts_flow("{prefix}"))
"""


@pytest.fixture(scope="module")
def made(e2e_server, tmp_path_factory):
    """The artifacts flow, run once for the module."""
    prefix = f"e2e-{uuid.uuid4().hex[:8]}"
    outcome = run_flow_script(e2e_server.api_url, ARTIFACTS_FLOW.replace("{prefix}", prefix),
                              workdir=tmp_path_factory.mktemp("artifacts"))
    if outcome.returncode != 0 or outcome.result is None:
        pytest.fail(f"The artifacts flow did not finish cleanly: {outcome.describe()}")
    return {"prefix": prefix, **outcome.result}


class TestArtifacts:

    def test_every_kind_is_read_back_with_its_data(self, api, made):
        prefix = made["prefix"]
        latest = {kind: ok(api.get(f"artifacts/{prefix}-{kind}/latest"))
                  for kind in ("md", "table", "link", "image", "progress", "task")}
        assert (latest["md"]["type"], latest["md"]["data"], latest["md"]["description"]) == (
            "markdown", "# Report v2", "second")
        assert latest["table"]["type"] == "table" and '"a": 3' in latest["table"]["data"]
        assert "https://example.com/x" in latest["link"]["data"]
        assert (latest["image"]["type"], latest["image"]["data"]) == ("image", "https://example.com/x.png")
        assert (latest["progress"]["type"], latest["progress"]["data"]) == ("progress", 60.0)
        assert latest["task"]["task_run_id"] is not None
        assert all(a["flow_run_id"] == made["flow_run_id"] for a in latest.values())

    def test_a_keyed_artifact_keeps_its_history(self, api, made):
        history = ok(api.post("artifacts/filter", json={
            "artifacts": {"key": {"any_": [f"{made['prefix']}-md"]}}, "sort": "CREATED_DESC"}))
        assert [a["data"] for a in history] == ["# Report v2", "# Report v1"]

    def test_the_cli_lists_and_inspects_them(self, cli, made):
        listing = cli("artifact", "ls")
        assert f"{made['prefix']}-table" in listing
        assert "# Report v2" in cli("artifact", "inspect", f"{made['prefix']}-md")

"""One real server per test session, shared by every end-to-end test.

The backend is E2E_DATABASE (sqlite or postgres), else whatever database the session runs on.
E2E_SERVER_URL points the tests at an already running server instead (for example the reference
Prefect server, to check the tests themselves); nothing is started or dropped then.
"""

import os
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.notifications.capture import CaptureServer

from .harness import Database, FlowResult, ServeProcess, e2e_backend, free_port, new_home, run_flow_script

# The notification services whose base URL is a setting: the shared server sends them to `capture`.
NOTIFICATION_URL_SETTINGS = (
    "PREFECT_NOTIFICATIONS_OPSGENIE_URL", "PREFECT_NOTIFICATIONS_OPSGENIE_EU_URL", "PREFECT_NOTIFICATIONS_PAGERDUTY_URL",
    "PREFECT_NOTIFICATIONS_SENDGRID_URL", "PREFECT_NOTIFICATIONS_TWILIO_URL",
)


@dataclass
class LiveServer:
    api_url: str
    backend: str
    workdir: Path

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.api_url + "/", timeout=30)


@pytest.fixture(scope="session")
def capture():
    """One local HTTP capture server for the session; the shared server's service base URLs point at it.

    Tests share it: each uses its own path (webhook-style channels) or filters requests by a marker
    of its own (a unique flow name or tag) instead of clearing it.
    """
    with CaptureServer() as server:
        yield server


@pytest.fixture(scope="session")
def e2e_server(capture):
    external = os.environ.get("E2E_SERVER_URL")
    home = new_home("e2e-server-")
    if external:
        yield LiveServer(external.rstrip("/") + "/api", "external", home)
        shutil.rmtree(home, ignore_errors=True)
        return

    backend = e2e_backend()
    database = Database.create(backend, home)
    server = ServeProcess(
        home=home,
        port=free_port(),
        args=["--workers", "2"],
        env={
            "PREFECT_API_DATABASE_CONNECTION_URL": database.url,
            "PREFECT_SERVER_LOGGING_LEVEL": "WARNING",
            "PREFECT_NOTIFICATIONS_RETRY_BACKOFF_SECONDS": "1",
            **{name: capture.url for name in NOTIFICATION_URL_SETTINGS},
        },
    )
    try:
        server.start()
        server.wait_healthy()
        yield LiveServer(server.api_url, backend, home)
    finally:
        if server.process is not None:
            server.stop()
        database.drop()
        shutil.rmtree(home, ignore_errors=True)


@pytest.fixture
def api(e2e_server):
    with e2e_server.client() as client:
        yield client


@pytest.fixture
def run_flow(e2e_server, tmp_path):
    """Run a flow script against the live server; fail with its output if it crashes."""

    def run(source: str, *, expect_success: bool = True, timeout: float = 180.0) -> FlowResult:
        outcome = run_flow_script(e2e_server.api_url, source, workdir=tmp_path, timeout=timeout)
        if expect_success and (outcome.returncode != 0 or outcome.result is None):
            pytest.fail(f"The flow script did not finish cleanly: {outcome.describe()}")
        return outcome

    return run


@pytest.fixture
def unique_name(request):
    """A flow name no other test (or earlier session on the same server) uses."""
    base = request.node.name.removeprefix("test_").replace("_", "-")[:40]
    return f"{base}-{uuid.uuid4().hex[:8]}"

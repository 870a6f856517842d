"""Run the real server and the real prefect client as separate processes.

`ServeProcess` starts `manage.py serve` with a clean PREFECT_* environment and stops it the way an
operator would (SIGTERM). `run_flow_script` runs a flow file with the prefect client pointed at a
server; the script reports back by printing one `E2E_RESULT {json}` line. `wait_until` polls,
because task runs arrive through events after the flow process has already exited.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import httpx

ROOT = Path(__file__).resolve().parents[2]
PYTHON = sys.executable
RESULT_MARKER = "E2E_RESULT "
DEFAULT_POSTGRES_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def clean_environ(**overrides: str) -> dict[str, str]:
    """The current environment without any PREFECT_* setting, plus the given ones.

    The test session's own PREFECT_HOME and database URL must not leak into the processes we start.
    """
    environ = {key: value for key, value in os.environ.items() if not key.startswith("PREFECT_")}
    environ.update(overrides)
    return environ


def wait_until(probe, *, timeout: float = 30.0, interval: float = 0.2, message: str = "condition"):
    """Call `probe` until it returns something truthy; return that, or fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    last = None
    while True:
        last = probe()
        if last:
            return last
        if time.monotonic() > deadline:
            raise AssertionError(f"Timed out after {timeout}s waiting for {message}; last value: {last!r}")
        time.sleep(interval)


def process_tree(root_pid: int) -> dict[int, str]:
    """Every live descendant of `root_pid` (pid -> command line), read from /proc."""
    parents: dict[int, int] = {}
    commands: dict[int, str] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
        except OSError:
            continue
        # The command name in field 2 may contain spaces; the fields after its ')' are fixed.
        fields = stat.rsplit(")", 1)[1].split()
        if fields[0] == "Z":
            continue
        parents[int(entry.name)] = int(fields[1])
        commands[int(entry.name)] = cmdline
    found: dict[int, str] = {}
    frontier = [root_pid]
    while frontier:
        parent = frontier.pop()
        for pid, ppid in parents.items():
            if ppid == parent and pid not in found:
                found[pid] = commands[pid]
                frontier.append(pid)
    return found


def is_alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"  # a zombie has exited; only its exit status is left to collect


# ---------------------------------------------------------------------------------------------
# Databases


@dataclass
class Database:
    """A fresh database for one server: a SQLite file, or a uniquely named PostgreSQL database."""

    backend: str
    home: Path
    url: str | None = None
    _admin_url: str | None = None

    @classmethod
    def create(cls, backend: str, home: Path) -> "Database":
        if backend == "sqlite":
            return cls("sqlite", home, f"sqlite+aiosqlite:///{home / 'server.db'}")
        if backend == "postgres":
            admin_url = postgres_admin_url()
            name = f"e2e_{uuid.uuid4().hex[:12]}"
            with postgres_connect(admin_url) as conn:
                conn.execute(f'CREATE DATABASE "{name}"')
            parts = urlsplit(admin_url)
            return cls("postgres", home, urlunsplit(parts._replace(path=f"/{name}")), admin_url)
        raise ValueError(f"Unknown E2E database backend {backend!r}: use sqlite or postgres")

    def drop(self, attempts: int = 10) -> None:
        if self.backend != "postgres":
            return
        import psycopg

        name = urlsplit(self.url).path.lstrip("/")
        for attempt in range(attempts):
            try:
                with postgres_connect(self._admin_url) as conn:
                    conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
                return
            except psycopg.OperationalError:
                # A busy server ("too many clients") should not leave the database behind.
                if attempt == attempts - 1:
                    raise
                time.sleep(1)


def e2e_backend() -> str:
    """E2E_DATABASE picks the backend; otherwise follow the database the test session runs on."""
    explicit = os.environ.get("E2E_DATABASE")
    if explicit:
        return explicit.lower()
    url = os.environ.get("PREFECT_API_DATABASE_CONNECTION_URL", "")
    return "postgres" if url.startswith("postgres") else "sqlite"


def postgres_admin_url() -> str:
    """The server to create databases on: the session's PostgreSQL URL, pointed at `postgres`."""
    url = os.environ.get("PREFECT_API_DATABASE_CONNECTION_URL", "")
    if not url.startswith("postgres"):
        url = os.environ.get("E2E_POSTGRES_URL", DEFAULT_POSTGRES_URL)
    return urlunsplit(urlsplit(url)._replace(path="/postgres"))


def postgres_connect(url: str):
    import psycopg

    parts = urlsplit(url)
    return psycopg.connect(
        host=parts.hostname or "127.0.0.1",
        port=parts.port or 5432,
        user=parts.username or "postgres",
        password=parts.password or None,
        dbname=parts.path.lstrip("/") or "postgres",
        autocommit=True,
    )


# ---------------------------------------------------------------------------------------------
# The server


@dataclass
class ServeProcess:
    """`manage.py serve` as a subprocess, with its own PREFECT_HOME and output file."""

    home: Path
    args: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)
    port: int | None = None
    pass_port: bool = True  # False: serve must find `port` in its settings (profile or environment)
    process: subprocess.Popen | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def api_url(self) -> str:
        return f"{self.base_url}/api"

    @property
    def output_path(self) -> Path:
        return self.home / "serve.out"

    def start(self) -> "ServeProcess":
        environ = clean_environ(PREFECT_HOME=str(self.home), PYTHONUNBUFFERED="1", **self.env)
        args = list(self.args)
        if self.pass_port and self.port is not None and "--port" not in args:
            args += ["--port", str(self.port)]
        self.home.mkdir(parents=True, exist_ok=True)
        with open(self.output_path, "wb") as output:
            self.process = subprocess.Popen(
                [PYTHON, str(ROOT / "manage.py"), "serve", *args],
                cwd=ROOT, env=environ, stdout=output, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            )
        return self

    def output(self) -> str:
        try:
            return self.output_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def wait_healthy(self, timeout: float = 60.0) -> None:
        def healthy():
            if self.process.poll() is not None:
                raise AssertionError(f"serve exited with {self.process.returncode}:\n{self.output()}")
            try:
                return httpx.get(f"{self.api_url}/health", timeout=2).status_code == 200
            except httpx.HTTPError:
                return False

        try:
            wait_until(healthy, timeout=timeout, interval=0.25, message=f"{self.api_url}/health")
        except AssertionError as exc:
            raise AssertionError(f"{exc}\nserve output:\n{self.output()}") from None

    def stop(self, signum: int = signal.SIGTERM, timeout: float = 30.0) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signum)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                # Leave nothing behind even when the test is about to fail.
                for pid in process_tree(self.process.pid):
                    try:
                        os.kill(pid, signal.SIGKILL)
                    except ProcessLookupError:
                        pass
                self.process.kill()
                self.process.wait()
                raise AssertionError(f"serve ignored signal {signum} for {timeout}s:\n{self.output()}")
        return self.process.returncode


# ---------------------------------------------------------------------------------------------
# The client


SCRIPT_PREAMBLE = f"""\
import json as _json


def report(**values):
    print({RESULT_MARKER!r} + _json.dumps(values, default=str), flush=True)

"""


@dataclass
class FlowResult:
    returncode: int
    stdout: str
    stderr: str
    result: dict | None

    def describe(self) -> str:
        return f"exit {self.returncode}\n--- stdout ---\n{self.stdout[-6000:]}\n--- stderr ---\n{self.stderr[-6000:]}"


def run_flow_script(api_url: str, source: str, *, workdir: Path, timeout: float = 180.0) -> FlowResult:
    """Run a flow script with the real prefect client against `api_url` in a fresh process.

    The script may call `report(**values)` (defined for it here); the last report becomes
    `FlowResult.result`.
    """
    workdir.mkdir(parents=True, exist_ok=True)
    script = workdir / f"flow_{uuid.uuid4().hex[:8]}.py"
    script.write_text(SCRIPT_PREAMBLE + textwrap.dedent(source))
    environ = clean_environ(
        PREFECT_API_URL=api_url,
        PREFECT_HOME=str(workdir / "client-home"),
        PREFECT_SERVER_ALLOW_EPHEMERAL_MODE="false",
        PYTHONUNBUFFERED="1",
    )
    completed = subprocess.run(
        [PYTHON, str(script)], cwd=workdir, env=environ, capture_output=True, text=True,
        timeout=timeout, stdin=subprocess.DEVNULL,
    )
    result = None
    for line in completed.stdout.splitlines():
        if line.startswith(RESULT_MARKER):
            result = json.loads(line[len(RESULT_MARKER):])
    return FlowResult(completed.returncode, completed.stdout, completed.stderr, result)


def new_home(prefix: str) -> Path:
    return Path(tempfile.mkdtemp(prefix=prefix))

"""What `manage.py serve` starts and how it stops it.

The serve command is a small supervisor: it decides a plan (host, port, web workers, whether the
background services run), runs migrations, starts gunicorn and the django-q2 cluster as child
processes, and takes them down together. Each child gets its own session (and so its own process
group) so a terminal's Ctrl+C reaches only the supervisor, which then stops every group in order:
SIGTERM, a grace period, SIGKILL for whatever is left. That is what keeps orphans from surviving.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from .database_access import is_in_memory

BASE_DIR = Path(__file__).resolve().parent.parent

# Gunicorn tuning for many concurrent, long-lived clients (workers, runners, event websockets).
KEEPALIVE_SECONDS = 75  # clients reuse connections between polls that come every ~10 s
WORKER_TIMEOUT_SECONDS = 120  # async workers only miss heartbeats if the event loop is stuck
GRACEFUL_TIMEOUT_SECONDS = 10  # long-lived websockets would otherwise hold a stop for 30 s
WORKER_CONNECTIONS = 2000
BACKLOG = 4096
STOP_GRACE_SECONDS = GRACEFUL_TIMEOUT_SECONDS + 5  # after this, the supervisor sends SIGKILL


class ServeRefused(Exception):
    """A configuration serve will not run with; the message tells the operator what to do."""


def default_workers(cpu_count: int | None = None) -> int:
    # The ASGI worker is async, so a couple of processes per core keeps cores busy while others
    # wait on the database; capped so SQLite writers don't pile up behind one lock.
    cpus = cpu_count or os.cpu_count() or 1
    return max(2, min(2 * cpus, 8))


@dataclass(frozen=True)
class ServePlan:
    host: str
    port: int
    workers: int
    services: bool
    in_memory: bool

    @property
    def bind_address(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"

    @property
    def base_url(self) -> str:
        return f"http://{self.bind_address}"

    @property
    def api_url(self) -> str:
        return f"{self.base_url}/api"

    @property
    def local_address(self) -> tuple[str, int]:
        """Where this machine can reach the server, even when it binds every interface."""
        host = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}.get(self.host, self.host)
        return host, self.port


def plan_serve(*, host, port, workers, no_services, prefect_settings, database) -> ServePlan:
    """Resolve command-line options against PREFECT_* settings.

    An in-memory SQLite database lives inside one process, so it allows one web worker and no
    separate service process: anything else would silently split the data between processes.
    """
    host = host or prefect_settings["PREFECT_SERVER_API_HOST"].value
    raw_port = port if port is not None else prefect_settings["PREFECT_SERVER_API_PORT"].value
    try:
        port = int(raw_port)
    except (TypeError, ValueError):
        raise ServeRefused(f"PREFECT_SERVER_API_PORT must be a port number, got {raw_port!r}.") from None
    if not 0 < port < 65536:
        raise ServeRefused(f"Port {port} is out of range (1-65535).")
    if workers is not None and workers < 1:
        raise ServeRefused("--workers must be at least 1.")

    in_memory = is_in_memory(database)
    if in_memory:
        if workers is not None and workers > 1:
            raise ServeRefused(
                "An in-memory SQLite database exists inside a single process, so it cannot be shared by "
                f"{workers} web workers. Use --workers 1, or a database file or PostgreSQL "
                "(PREFECT_API_DATABASE_CONNECTION_URL)."
            )
        return ServePlan(host=host, port=port, workers=1, services=False, in_memory=True)
    return ServePlan(
        host=host,
        port=port,
        workers=workers or default_workers(),
        services=not no_services,
        in_memory=False,
    )


def ensure_port_free(plan: ServePlan) -> None:
    """Fail fast, before migrating, if something already listens where the server would."""
    family = socket.AF_INET6 if ":" in plan.host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        # Same option gunicorn uses, so connections lingering in TIME_WAIT don't count as "in use".
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((plan.host, plan.port))
        except OSError as exc:
            raise ServeRefused(
                f"Cannot listen on {plan.host}:{plan.port}: {exc.strerror or exc}. "
                "Is another server running there? Choose another with --port or PREFECT_SERVER_API_PORT."
            ) from None



def gunicorn_command(plan: ServePlan, log_level: str = "warning") -> list[str]:
    command = [
        sys.executable, "-m", "gunicorn", "orchestrator_site.asgi:application",
        "--worker-class", "asgi",
        "--workers", str(plan.workers),
        "--bind", plan.bind_address,
        "--keep-alive", str(KEEPALIVE_SECONDS),
        "--timeout", str(WORKER_TIMEOUT_SECONDS),
        "--graceful-timeout", str(GRACEFUL_TIMEOUT_SECONDS),
        "--worker-connections", str(WORKER_CONNECTIONS),
        "--backlog", str(BACKLOG),
        "--log-level", log_level.lower(),
        # The control socket has one fixed default path per user: two servers would fight over it.
        "--no-control-socket",
    ]
    if plan.in_memory:
        # The worker must build the schema itself: the supervisor's in-memory database is not its.
        command += ["--config", "python:dbadmin.gunicorn_hooks"]
    return command


def qcluster_command() -> list[str]:
    return [sys.executable, str(BASE_DIR / "manage.py"), "qcluster"]


def pending_migrations(connection) -> list[str]:
    from django.db.migrations.executor import MigrationExecutor

    executor = MigrationExecutor(connection)
    plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
    return [f"{migration.app_label}.{migration.name}" for migration, backwards in plan if not backwards]


class Supervisor:
    """Starts children in their own process groups and stops them all, whatever happens."""

    def __init__(self, *, stop_grace: float = STOP_GRACE_SECONDS, out=None):
        self.children: dict[str, subprocess.Popen] = {}
        self.stop_grace = stop_grace
        self.stop_requested: int | None = None
        self.out = out or sys.stdout

    def start(self, name: str, command: list[str]) -> subprocess.Popen:
        self.children[name] = subprocess.Popen(
            command, cwd=BASE_DIR, start_new_session=True, preexec_fn=terminate_with_parent
        )
        return self.children[name]

    def request_stop(self, signum, frame=None) -> None:
        self.stop_requested = signum

    def install_signal_handlers(self) -> None:
        for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(signum, self.request_stop)

    def wait_listening(self, address: tuple[str, int], timeout: float = 60.0, poll_seconds: float = 0.1) -> bool:
        """True once `address` accepts connections; False if a child died, a stop came, or time ran out."""
        deadline = time.monotonic() + timeout
        while self.stop_requested is None and time.monotonic() < deadline:
            if any(child.poll() is not None for child in self.children.values()):
                return False
            try:
                socket.create_connection(address, timeout=1).close()
                return True
            except OSError:
                time.sleep(poll_seconds)
        return False

    def wait(self, poll_seconds: float = 0.2) -> int:
        """Block until a stop signal or a child exits; return the exit code for serve."""
        while self.stop_requested is None:
            for name, child in self.children.items():
                code = child.poll()
                if code is not None:
                    self.out.write(f"{name} exited unexpectedly with code {code}; stopping the server.\n")
                    self.out.flush()
                    return code or 1
            time.sleep(poll_seconds)
        return 0

    def stop_all(self) -> None:
        # Ask each leader (not its whole group) to stop: gunicorn's arbiter and the django-q2 cluster
        # stop their own workers in order, and the cluster deadlocks if its sentinel is signalled
        # at the same time as itself. All leaders at once, so they drain in parallel.
        for child in self.children.values():
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + self.stop_grace
        for child in self.children.values():
            try:
                child.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                pass
        # Stragglers: a wedged worker, or grandchildren whose parent already left the group.
        for child in self.children.values():
            signal_group(child, signal.SIGKILL)
            try:
                child.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass


def terminate_with_parent() -> None:
    """In the child before exec: ask Linux to SIGTERM it if the supervisor dies without cleaning up
    (SIGKILL, OOM). Elsewhere this is a no-op and only the normal stop path applies."""
    if not sys.platform.startswith("linux"):
        return
    import ctypes

    PR_SET_PDEATHSIG = 1
    try:
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):
        pass


def signal_group(child: subprocess.Popen, signum: int) -> None:
    # The child is its group's leader (start_new_session), so its pid is the group id.
    try:
        os.killpg(child.pid, signum)
    except (ProcessLookupError, PermissionError):
        pass

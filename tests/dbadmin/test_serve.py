"""`manage.py serve`: what it starts, what it refuses, and that it leaves nothing running."""

import os
import signal
import socket
import subprocess
from pathlib import Path

import httpx
import pytest

from dbadmin import serving
from orchestrator_site.config import Setting
from tests.e2e.harness import (
    PYTHON, ROOT, Database, ServeProcess, clean_environ, e2e_backend, free_port, is_alive, process_tree,
    wait_until,
)

IN_MEMORY_URL = "sqlite+aiosqlite:///file::memory:?cache=shared&uri=true&check_same_thread=false"


@pytest.fixture
def fresh_database(tmp_path):
    """An empty database on the session's backend (a SQLite file, or a new PostgreSQL database)."""
    database = Database.create(e2e_backend(), tmp_path)
    yield database
    database.drop()


@pytest.fixture
def start_serve(tmp_path, fresh_database):
    """Start `manage.py serve` on a fresh database; every server started is stopped afterwards."""
    started = []

    def start(*args, env=None, port=None, home=None, pass_port=True, wait=True):
        environ = {"PREFECT_API_DATABASE_CONNECTION_URL": fresh_database.url, **(env or {})}
        server = ServeProcess(
            home=home or tmp_path / f"home-{len(started)}", args=list(args), env=environ,
            port=port if port is not None else free_port(), pass_port=pass_port,
        )
        started.append(server.start())
        if wait:
            server.wait_healthy()
        return server

    yield start
    for server in started:
        server.stop()


def children_by_kind(server):
    tree = process_tree(server.process.pid)
    return {
        "gunicorn": [pid for pid, cmd in tree.items() if "gunicorn" in cmd],
        "qcluster": [pid for pid, cmd in tree.items() if "qcluster" in cmd],
        "all": list(tree),
    }


def wait_for_children(server, *, gunicorn: int, qcluster: bool):
    """The children once `gunicorn` gunicorn processes (master included) run, with or without a qcluster."""

    def settled():
        kinds = children_by_kind(server)
        return kinds if len(kinds["gunicorn"]) == gunicorn and bool(kinds["qcluster"]) == qcluster else None

    return wait_until(settled, timeout=30, message=f"{gunicorn} gunicorn processes, qcluster={qcluster}")


def run_serve_to_completion(*args, env, timeout=60):
    return subprocess.run(
        [PYTHON, str(ROOT / "manage.py"), "serve", *args], cwd=ROOT, env=clean_environ(**env),
        capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL,
    )


class TestServeRunningServer:
    def test_it_answers_health_and_version(self, start_serve):
        server = start_serve("--workers", "2")
        assert httpx.get(f"{server.api_url}/health").json() is True
        assert httpx.get(f"{server.api_url}/admin/version").json() == "3.8.8"

    def test_it_prints_the_dashboard_and_api_urls(self, start_serve):
        server = start_serve("--workers", "2")
        output = wait_until(lambda: server.output() if "Press Ctrl+C" in server.output() else None, timeout=10)
        assert f"Dashboard: {server.base_url}/" in output
        assert f"API:       {server.api_url}" in output
        assert f"PREFECT_API_URL={server.api_url}" in output

    def test_it_runs_a_gunicorn_master_with_the_requested_workers_and_a_qcluster(self, start_serve):
        server = start_serve("--workers", "3")
        kinds = wait_for_children(server, gunicorn=4, qcluster=True)
        masters = [pid for pid in kinds["gunicorn"] if parent_of(pid) == server.process.pid]
        assert len(masters) == 1  # one master, three workers under it

    def test_no_services_starts_no_qcluster(self, start_serve):
        server = start_serve("--workers", "1", "--no-services")
        kinds = wait_for_children(server, gunicorn=2, qcluster=False)
        assert kinds["qcluster"] == []
        assert "Background services: off" in server.output()

    def test_the_database_is_migrated_on_start_by_default(self, start_serve):
        server = start_serve("--workers", "1", "--no-services")
        created = httpx.post(f"{server.api_url}/flows/", json={"name": "migrated-on-start"})
        assert created.status_code == 201, created.text


class TestServeStopping:
    @pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
    def test_a_stop_signal_ends_serve_and_every_child_process(self, start_serve, signum):
        server = start_serve("--workers", "2")
        kinds = wait_for_children(server, gunicorn=3, qcluster=True)
        assert server.stop(signum, timeout=40) == 0
        survivors = [pid for pid in kinds["all"] if is_alive(pid)]
        assert survivors == [], f"still running after serve exited: {survivors}"
        assert "Server stopped." in server.output()
        with pytest.raises(httpx.ConnectError):
            httpx.get(f"{server.api_url}/health", timeout=2)

    def test_a_crashed_web_server_takes_serve_down_with_it(self, start_serve):
        server = start_serve("--workers", "1")
        kinds = wait_for_children(server, gunicorn=2, qcluster=True)
        [master] = [pid for pid in kinds["gunicorn"] if parent_of(pid) == server.process.pid]
        os.kill(master, signal.SIGKILL)
        server.process.wait(timeout=40)
        assert server.process.returncode != 0
        assert "web server exited unexpectedly" in server.output()
        assert [pid for pid in kinds["all"] if is_alive(pid)] == []


    def test_a_port_already_in_use_is_refused_before_anything_starts(self, fresh_database, tmp_path):
        with socket.socket() as taken:
            taken.bind(("127.0.0.1", 0))
            taken.listen()
            port = taken.getsockname()[1]
            finished = run_serve_to_completion("--port", str(port), "--workers", "1", env={
                "PREFECT_HOME": str(tmp_path), "PREFECT_API_DATABASE_CONNECTION_URL": fresh_database.url,
            })
        assert finished.returncode != 0
        assert f"Cannot listen on 127.0.0.1:{port}" in finished.stderr
        assert "Dashboard:" not in finished.stdout


class TestMigrateOnStartDisabled:
    def test_a_fresh_database_is_refused_with_the_command_to_run(self, fresh_database, tmp_path):
        port = free_port()
        finished = run_serve_to_completion("--port", str(port), env={
            "PREFECT_HOME": str(tmp_path),
            "PREFECT_API_DATABASE_CONNECTION_URL": fresh_database.url,
            "PREFECT_API_DATABASE_MIGRATE_ON_START": "false",
        })
        assert finished.returncode != 0
        assert "python manage.py migrate" in finished.stderr
        assert "PREFECT_API_DATABASE_MIGRATE_ON_START is false" in finished.stderr
        assert "Traceback" not in finished.stderr
        with pytest.raises(httpx.ConnectError):
            httpx.get(f"http://127.0.0.1:{port}/api/health", timeout=2)

    def test_a_migrated_database_is_served_as_it_is(self, start_serve, fresh_database, tmp_path):
        env = {"PREFECT_HOME": str(tmp_path), "PREFECT_API_DATABASE_CONNECTION_URL": fresh_database.url}
        migrate = subprocess.run([PYTHON, str(ROOT / "manage.py"), "migrate", "-v0"], cwd=ROOT,
                                 env=clean_environ(**env), capture_output=True, text=True, timeout=120)
        assert migrate.returncode == 0, migrate.stderr
        server = start_serve("--workers", "1", "--no-services", env={"PREFECT_API_DATABASE_MIGRATE_ON_START": "false"})
        assert httpx.post(f"{server.api_url}/flows/", json={"name": "premigrated"}).status_code == 201


class TestUnreachableDatabase:
    def test_serve_refuses_with_the_database_it_tried(self, tmp_path):
        closed_port = free_port()
        finished = run_serve_to_completion("--port", str(free_port()), env={
            "PREFECT_HOME": str(tmp_path),
            "PREFECT_API_DATABASE_CONNECTION_URL": f"postgresql+asyncpg://postgres@127.0.0.1:{closed_port}/nowhere",
        })
        assert finished.returncode != 0
        assert f"Cannot connect to the database at postgresql://postgres@127.0.0.1:{closed_port}/nowhere" in finished.stderr
        assert "Traceback" not in finished.stderr


class TestPortPrecedence:
    @staticmethod
    def write_profile(home, port):
        home.mkdir(parents=True, exist_ok=True)
        (home / "profiles.toml").write_text(
            f'active = "ops"\n\n[profiles.ops]\nPREFECT_SERVER_API_PORT = "{port}"\n'
            f'[profiles.default]\nPREFECT_SERVER_API_PORT = "1"\n'
        )

    def test_the_active_profile_sets_the_port(self, start_serve, tmp_path):
        profile_port = free_port()
        self.write_profile(tmp_path / "home", profile_port)
        server = start_serve("--workers", "1", "--no-services", port=profile_port, home=tmp_path / "home",
                             pass_port=False)
        assert f"http://127.0.0.1:{profile_port}/api" in server.output()

    def test_the_environment_beats_the_profile(self, start_serve, tmp_path):
        profile_port, env_port = free_port(), free_port()
        self.write_profile(tmp_path / "home", profile_port)
        server = start_serve("--workers", "1", "--no-services", port=env_port, home=tmp_path / "home",
                             pass_port=False, env={"PREFECT_SERVER_API_PORT": str(env_port)})
        assert f"http://127.0.0.1:{env_port}/api" in server.output()
        with pytest.raises(httpx.ConnectError):
            httpx.get(f"http://127.0.0.1:{profile_port}/api/health", timeout=2)


class TestInMemoryDatabase:
    def test_several_web_workers_are_refused(self, tmp_path):
        finished = run_serve_to_completion("--port", str(free_port()), "--workers", "2", env={
            "PREFECT_HOME": str(tmp_path), "PREFECT_API_DATABASE_CONNECTION_URL": IN_MEMORY_URL,
        })
        assert finished.returncode != 0
        assert "in-memory SQLite database" in finished.stderr
        assert "--workers 1" in finished.stderr

    def test_it_serves_from_one_worker_without_a_cluster_and_keeps_data(self, start_serve):
        server = start_serve(env={"PREFECT_API_DATABASE_CONNECTION_URL": IN_MEMORY_URL})
        kinds = wait_for_children(server, gunicorn=2, qcluster=False)
        assert kinds["qcluster"] == []
        created = httpx.post(f"{server.api_url}/flows/", json={"name": "kept-in-memory"})
        assert created.status_code == 201, created.text
        read = httpx.get(f"{server.api_url}/flows/{created.json()['id']}")
        assert read.status_code == 200 and read.json()["name"] == "kept-in-memory"


class TestServePlan:
    def settings(self, host="127.0.0.1", port="4200"):
        return {"PREFECT_SERVER_API_HOST": Setting(host, "default"), "PREFECT_SERVER_API_PORT": Setting(port, "default")}

    def plan(self, database=None, **options):
        arguments = {"host": None, "port": None, "workers": None, "no_services": False, **options}
        database = database or {"ENGINE": "django.db.backends.sqlite3", "NAME": "/tmp/x.db"}
        return serving.plan_serve(prefect_settings=self.settings(), database=database, **arguments)

    def test_two_cores_get_four_workers(self):
        assert serving.default_workers(2) == 4

    def test_worker_count_stays_between_two_and_eight(self):
        assert serving.default_workers(1) == 2
        assert serving.default_workers(64) == 8

    def test_options_override_settings(self):
        plan = self.plan(host="0.0.0.0", port=9000, workers=3, no_services=True)
        assert (plan.host, plan.port, plan.workers, plan.services) == ("0.0.0.0", 9000, 3, False)

    def test_settings_fill_in_missing_options(self):
        plan = self.plan()
        assert (plan.host, plan.port, plan.services) == ("127.0.0.1", 4200, True)

    def test_a_non_numeric_port_setting_is_refused(self):
        with pytest.raises(serving.ServeRefused, match="port number"):
            serving.plan_serve(host=None, port=None, workers=None, no_services=False,
                               prefect_settings=self.settings(port="http"),
                               database={"ENGINE": "django.db.backends.sqlite3", "NAME": "x"})

    def test_zero_workers_are_refused(self):
        with pytest.raises(serving.ServeRefused, match="at least 1"):
            self.plan(workers=0)

    def test_in_memory_sqlite_runs_one_worker_and_no_services(self):
        plan = self.plan(database={"ENGINE": "django.db.backends.sqlite3", "NAME": "file:x?mode=memory&cache=shared"})
        assert (plan.workers, plan.services, plan.in_memory) == (1, False, True)

    def test_gunicorn_runs_the_asgi_worker_on_the_planned_address(self):
        command = serving.gunicorn_command(self.plan(port=4321, workers=5))
        assert "orchestrator_site.asgi:application" in command
        assert command[command.index("--worker-class") + 1] == "asgi"
        assert command[command.index("--workers") + 1] == "5"
        assert command[command.index("--bind") + 1] == "127.0.0.1:4321"

    def test_ipv6_hosts_are_bracketed(self):
        assert self.plan(host="::1", port=4200).api_url == "http://[::1]:4200/api"


def parent_of(pid):
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])

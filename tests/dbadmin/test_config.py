"""Settings precedence (environment > active profile > default) and `manage.py config view|set|unset`."""

import subprocess
import tomllib
from pathlib import Path

import pytest

from dbadmin import profiles
from orchestrator_site import config
from tests.e2e.harness import PYTHON, ROOT, clean_environ

PREFECT_CLI = str(Path(PYTHON).with_name("prefect"))


def write_profiles(home: Path, text: str) -> None:
    home.mkdir(parents=True, exist_ok=True)
    (home / "profiles.toml").write_text(text)


def read_profiles(home: Path) -> dict:
    return tomllib.loads((home / "profiles.toml").read_text())


def manage_config(*args, home, env=None):
    environ = clean_environ(PREFECT_HOME=str(home), **(env or {}))
    return subprocess.run([PYTHON, "manage.py", "config", *args], cwd=ROOT, env=environ,
                          stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=120)


def view_lines(finished) -> dict[str, str]:
    assert finished.returncode == 0, finished.stderr
    return dict(line.split("=", 1) for line in finished.stdout.splitlines() if line.startswith("PREFECT_"))


class TestSettingsPrecedence:
    def test_the_environment_beats_the_profile_which_beats_the_default(self, tmp_path):
        write_profiles(tmp_path, 'active = "ops"\n[profiles.ops]\nPREFECT_SERVER_API_PORT = "4300"\n'
                                 'PREFECT_SERVER_API_HOST = "0.0.0.0"\n')
        environ = {"PREFECT_HOME": str(tmp_path), "PREFECT_SERVER_API_PORT": "4400"}
        settings = config.load_settings(environ)
        assert settings["PREFECT_SERVER_API_PORT"] == config.Setting("4400", "env", "PREFECT_SERVER_API_PORT")
        assert settings["PREFECT_SERVER_API_HOST"] == config.Setting("0.0.0.0", "profile", "PREFECT_SERVER_API_HOST")
        assert settings["PREFECT_API_DATABASE_ECHO"] == config.Setting("false", "default")

    def test_the_names_prefect_config_set_writes_are_honoured(self, tmp_path):
        write_profiles(tmp_path, 'active = "ephemeral"\n[profiles.ephemeral]\n'
                                 'PREFECT_SERVER_DATABASE_ECHO = "true"\n'
                                 'PREFECT_SERVER_DATABASE_CONNECTION_URL = "sqlite+aiosqlite:////tmp/x.db"\n')
        settings = config.load_settings({"PREFECT_HOME": str(tmp_path)})
        assert settings["PREFECT_API_DATABASE_ECHO"].value == "true"
        assert settings["PREFECT_API_DATABASE_CONNECTION_URL"].value == "sqlite+aiosqlite:////tmp/x.db"
        assert settings["PREFECT_API_DATABASE_CONNECTION_URL"].source == "profile"

    def test_prefect_profile_in_the_environment_picks_another_profile(self, tmp_path):
        write_profiles(tmp_path, 'active = "a"\n[profiles.a]\nPREFECT_SERVER_API_PORT = "1111"\n'
                                 '[profiles.b]\nPREFECT_SERVER_API_PORT = "2222"\n')
        settings = config.load_settings({"PREFECT_HOME": str(tmp_path), "PREFECT_PROFILE": "b"})
        assert settings["PREFECT_SERVER_API_PORT"].value == "2222"

    def test_without_a_profiles_file_the_ephemeral_profile_is_active_and_defaults_apply(self, tmp_path):
        assert config.read_active_profile({"PREFECT_HOME": str(tmp_path)}) == ("ephemeral", {})
        settings = config.load_settings({"PREFECT_HOME": str(tmp_path)})
        assert settings["PREFECT_API_DATABASE_MIGRATE_ON_START"] == config.Setting("true", "default")

    def test_a_profile_cannot_move_prefect_home(self, tmp_path):
        write_profiles(tmp_path, 'active = "a"\n[profiles.a]\nPREFECT_HOME = "/elsewhere"\n')
        assert config.load_settings({"PREFECT_HOME": str(tmp_path)})["PREFECT_HOME"].value == str(tmp_path)


class TestDatabaseUrl:
    def settings(self, tmp_path, **values):
        return config.load_settings({"PREFECT_HOME": str(tmp_path), **values})

    def test_the_default_is_a_sqlite_file_under_prefect_home(self, tmp_path):
        database = config.database_config(self.settings(tmp_path))
        assert database["ENGINE"] == "orchestrator_site.sqlite"
        assert database["NAME"] == str(tmp_path / "prefect.db")

    def test_the_password_replaces_the_placeholder_even_with_url_special_characters(self, tmp_path):
        database = config.database_config(self.settings(
            tmp_path,
            PREFECT_API_DATABASE_CONNECTION_URL="postgresql+asyncpg://app:${PREFECT_API_DATABASE_PASSWORD}@db.local:6543/orch",
            PREFECT_API_DATABASE_PASSWORD="p@ss/w:rd#1",
        ))
        assert (database["USER"], database["PASSWORD"]) == ("app", "p@ss/w:rd#1")
        assert (database["HOST"], database["PORT"], database["NAME"]) == ("db.local", "6543", "orch")

    def test_in_memory_sqlite_is_recognised(self, tmp_path):
        database = config.database_config(self.settings(
            tmp_path,
            PREFECT_API_DATABASE_CONNECTION_URL="sqlite+aiosqlite:///file::memory:?cache=shared&uri=true",
        ))
        assert "mode=memory" in database["NAME"]


class TestConfigView:
    def test_secrets_are_masked_unless_asked_for(self, tmp_path):
        url = "postgresql+asyncpg://app:secret@db.local:5432/orch"
        masked = view_lines(manage_config("view", home=tmp_path, env={"PREFECT_API_DATABASE_CONNECTION_URL": url}))
        assert masked["PREFECT_API_DATABASE_CONNECTION_URL"] == "'********'"
        shown = view_lines(manage_config("view", "--show-secrets", home=tmp_path,
                                         env={"PREFECT_API_DATABASE_CONNECTION_URL": url}))
        assert shown["PREFECT_API_DATABASE_CONNECTION_URL"] == repr(url)

    def test_show_sources_says_where_each_value_came_from(self, tmp_path):
        write_profiles(tmp_path, 'active = "ephemeral"\n[profiles.ephemeral]\nPREFECT_SERVER_DATABASE_ECHO = "true"\n'
                                 'PREFECT_SERVER_API_PORT = "4300"\n')
        lines = view_lines(manage_config("view", "--show-sources", home=tmp_path,
                                         env={"PREFECT_SERVER_API_PORT": "4500"}))
        assert lines["PREFECT_SERVER_API_PORT"] == "'4500' (from env)"
        assert lines["PREFECT_API_DATABASE_ECHO"] == "'true' (from profile, as PREFECT_SERVER_DATABASE_ECHO)"
        assert lines["PREFECT_API_DATABASE_MIGRATE_ON_START"] == "'true' (from default)"
        assert lines["PREFECT_PROFILE"] == "'ephemeral'"

    def test_the_default_connection_url_is_the_sqlite_file_under_prefect_home(self, tmp_path):
        lines = view_lines(manage_config("view", "--show-secrets", home=tmp_path))
        assert lines["PREFECT_API_DATABASE_CONNECTION_URL"] == repr(f"sqlite+aiosqlite:///{tmp_path / 'prefect.db'}")


class TestConfigSetAndUnset:
    def test_set_writes_the_active_profile_and_keeps_everything_else(self, tmp_path):
        write_profiles(tmp_path, 'active = "work"\n[profiles.work]\nPREFECT_API_URL = "http://x/api"\n'
                                 '[profiles.other]\nPREFECT_SERVER_API_PORT = "1"\n')
        finished = manage_config("set", "PREFECT_API_DATABASE_ECHO=true", "PREFECT_SERVER_API_PORT=4300", home=tmp_path)
        assert finished.returncode == 0, finished.stderr
        assert read_profiles(tmp_path) == {
            "active": "work",
            "profiles": {
                "work": {"PREFECT_API_URL": "http://x/api", "PREFECT_API_DATABASE_ECHO": "true",
                         "PREFECT_SERVER_API_PORT": "4300"},
                "other": {"PREFECT_SERVER_API_PORT": "1"},
            },
        }

    def test_set_creates_the_file_with_the_ephemeral_profile_active(self, tmp_path):
        finished = manage_config("set", "PREFECT_SERVER_API_HOST=0.0.0.0", home=tmp_path)
        assert finished.returncode == 0, finished.stderr
        assert read_profiles(tmp_path) == {"active": "ephemeral",
                                           "profiles": {"ephemeral": {"PREFECT_SERVER_API_HOST": "0.0.0.0"}}}

    def test_set_replaces_a_value_stored_under_another_name_of_the_same_setting(self, tmp_path):
        write_profiles(tmp_path, 'active = "a"\n[profiles.a]\nPREFECT_SERVER_DATABASE_ECHO = "true"\n')
        assert manage_config("set", "PREFECT_API_DATABASE_ECHO=false", home=tmp_path).returncode == 0
        assert read_profiles(tmp_path)["profiles"]["a"] == {"PREFECT_API_DATABASE_ECHO": "false"}

    @pytest.mark.parametrize("assignment, reason", [
        ("PREFECT_NOT_A_SETTING=1", "Unknown setting 'PREFECT_NOT_A_SETTING'"),
        ("PREFECT_SERVER_API_PORT=http", "must be a port number"),
        ("PREFECT_API_DATABASE_ECHO=maybe", "must be true or false"),
        ("PREFECT_API_DATABASE_CONNECTION_URL=mysql://x/y", "must be a sqlite+aiosqlite"),
        ("PREFECT_HOME=/elsewhere", "cannot be set in a profile"),
        ("PREFECT_SERVER_API_PORT", "Expected KEY=VALUE"),
    ])
    def test_bad_assignments_are_refused_and_nothing_is_written(self, tmp_path, assignment, reason):
        finished = manage_config("set", "PREFECT_SERVER_API_HOST=0.0.0.0", assignment, home=tmp_path)
        assert finished.returncode != 0
        assert reason in finished.stderr and "Traceback" not in finished.stderr
        assert not (tmp_path / "profiles.toml").exists()

    def test_a_secret_is_not_echoed_back(self, tmp_path):
        finished = manage_config("set", "PREFECT_API_DATABASE_PASSWORD=hunter2", home=tmp_path)
        assert finished.returncode == 0 and "hunter2" not in finished.stdout

    def test_setting_what_the_environment_overrides_says_so(self, tmp_path):
        finished = manage_config("set", "PREFECT_SERVER_API_PORT=4300", home=tmp_path,
                                 env={"PREFECT_SERVER_API_PORT": "4500"})
        assert finished.returncode == 0
        assert "also set in the environment" in finished.stderr

    def test_unset_removes_every_name_of_the_setting(self, tmp_path):
        write_profiles(tmp_path, 'active = "a"\n[profiles.a]\nPREFECT_SERVER_DATABASE_ECHO = "true"\n'
                                 'PREFECT_SERVER_API_PORT = "4300"\n')
        finished = manage_config("unset", "PREFECT_API_DATABASE_ECHO", home=tmp_path)
        assert finished.returncode == 0, finished.stderr
        assert read_profiles(tmp_path)["profiles"]["a"] == {"PREFECT_SERVER_API_PORT": "4300"}

    def test_unset_of_a_setting_the_profile_does_not_hold_is_refused(self, tmp_path):
        write_profiles(tmp_path, 'active = "a"\n[profiles.a]\nPREFECT_SERVER_API_PORT = "4300"\n')
        before = (tmp_path / "profiles.toml").read_text()
        finished = manage_config("unset", "PREFECT_SERVER_API_PORT", "PREFECT_API_DATABASE_ECHO", home=tmp_path)
        assert finished.returncode != 0
        assert "PREFECT_API_DATABASE_ECHO is not set in profile 'a'" in finished.stderr
        assert (tmp_path / "profiles.toml").read_text() == before

    def test_unset_of_an_unknown_key_is_refused(self, tmp_path):
        finished = manage_config("unset", "PREFECT_NOPE", home=tmp_path)
        assert finished.returncode != 0 and "Unknown setting 'PREFECT_NOPE'" in finished.stderr


class TestPrefectCliInterop:
    """The real prefect CLI and these commands read and write the same profiles file."""

    def prefect(self, *args, home):
        environ = clean_environ(PREFECT_HOME=str(home))
        finished = subprocess.run([PREFECT_CLI, *args], env=environ, capture_output=True, text=True, timeout=120)
        assert finished.returncode == 0, finished.stdout + finished.stderr
        return finished.stdout

    def test_prefect_config_set_is_honoured_and_our_set_is_read_by_prefect(self, tmp_path):
        url = f"sqlite+aiosqlite:///{tmp_path / 'from-prefect.db'}"
        self.prefect("config", "set", f"PREFECT_API_DATABASE_CONNECTION_URL={url}", home=tmp_path)
        lines = view_lines(manage_config("view", "--show-secrets", "--show-sources", home=tmp_path))
        assert lines["PREFECT_API_DATABASE_CONNECTION_URL"].startswith(f"{url!r} (from profile")

        assert manage_config("set", "PREFECT_API_DATABASE_ECHO=true", home=tmp_path).returncode == 0
        shown = self.prefect("config", "view", "--show-sources", home=tmp_path)
        assert "ECHO='true' (from profile)" in shown


class TestTomlWriter:
    def test_what_it_writes_reads_back_identically(self):
        document = {
            "active": "a b",
            "profiles": {
                "a b": {"KEY": 'quote " backslash \\ newline \n ü', "FLAG": True, "N": 3, "LIST": ["x", 1]},
                "empty": {},
            },
        }
        assert tomllib.loads(profiles.dump_toml(document)) == document

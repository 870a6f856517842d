"""`manage.py config view | set | unset`: the server's PREFECT_* settings and the active profile.

Precedence is the prefect CLI's: the environment, then the active profile in
`$PREFECT_HOME/profiles.toml`, then the documented default.
"""

from django.core.management.base import BaseCommand, CommandError

from dbadmin import profiles
from orchestrator_site import config

MASK = "********"
SOURCE_NAMES = {"env": "env", "profile": "profile", "default": "default"}


class Command(BaseCommand):
    help = "View the effective PREFECT_* settings, or set and unset them in the active profile."
    # Settings work needs no database; don't let checks touch one.
    requires_system_checks = []
    requires_migrations_checks = False

    def add_arguments(self, parser):
        actions = parser.add_subparsers(dest="action", required=True, metavar="{view,set,unset}")

        view = actions.add_parser("view", help="Print the effective settings.")
        view.add_argument("--show-sources", action="store_true",
                          help="Say where each value comes from: env, profile or default.")
        view.add_argument("--show-secrets", action="store_true",
                          help="Print secret values (the connection URL, the password) instead of ********.")

        set_ = actions.add_parser("set", help="Set KEY=VALUE pairs in the active profile.")
        set_.add_argument("assignments", nargs="+", metavar="KEY=VALUE")

        unset = actions.add_parser("unset", help="Remove settings from the active profile.")
        unset.add_argument("keys", nargs="+", metavar="KEY")

    def handle(self, *args, action, **options):
        try:
            if action == "view":
                return self.view(options["show_sources"], options["show_secrets"])
            if action == "set":
                return self.set(options["assignments"])
            return self.unset(options["keys"])
        except (profiles.ProfileError, config.ImproperlyConfiguredProfile) as exc:
            raise CommandError(str(exc)) from None

    def view(self, show_sources, show_secrets):
        # Read afresh rather than from django.conf.settings: this process's settings were read at
        # start-up, and this command's answer should be exactly what a new server would use.
        profile_name, _ = config.read_active_profile()
        effective = config.load_settings()
        self.stdout.write(f"PREFECT_PROFILE={profile_name!r}")
        if show_sources:
            self.stdout.write(f"# profiles file: {config.profiles_path()}")
        for key, setting in effective.items():
            value = displayed_value(key, setting, effective)
            if config.SETTINGS[key].secret and value is not None and not show_secrets:
                value = MASK
            line = f"{key}={value!r}" if value is not None else f"{key}=(not set)"
            if show_sources:
                line += f" (from {describe_source(key, setting)})"
            self.stdout.write(line)

    def set(self, assignments):
        parsed = [profiles.parse_assignment(text) for text in assignments]
        name = profiles.set_values(parsed)
        for key, typed, value in parsed:
            shown = MASK if config.SETTINGS[key].secret else value
            self.stdout.write(f"Set {typed}={shown!r}.")
            self.warn_if_overridden(key)
        self.stdout.write(f"Updated profile {name!r} in {config.profiles_path()}.")

    def unset(self, keys):
        name = profiles.unset_values(keys)
        for text in keys:
            self.stdout.write(f"Unset {text.strip().upper()}.")
        self.stdout.write(f"Updated profile {name!r} in {config.profiles_path()}.")

    def warn_if_overridden(self, key):
        setting = config.load_settings()[key]
        if setting.source == "env":
            self.stderr.write(f"Note: {setting.name} is also set in the environment, which takes precedence "
                              "over the profile.")


def displayed_value(key, setting, effective):
    # Unset, the connection URL means a SQLite file under PREFECT_HOME: show that, as prefect does.
    if key == "PREFECT_API_DATABASE_CONNECTION_URL" and setting.value is None:
        home = config.prefect_home({"PREFECT_HOME": effective["PREFECT_HOME"].value})
        return f"sqlite+aiosqlite:///{home / 'prefect.db'}"
    if key == "PREFECT_PROFILES_PATH" and setting.source == "default":
        return str(config.profiles_path())
    return setting.value


def describe_source(key, setting):
    source = SOURCE_NAMES[setting.source]
    if setting.name and setting.name != key:
        return f"{source}, as {setting.name}"
    return source

"""`manage.py database reset | upgrade | downgrade | revisions`: the operator's schema commands.

They follow `prefect server database ...`: changes ask for confirmation unless -y is given (and
refuse when there is no terminal to ask on), `--dry-run` only prints the plan, and `-r` takes
`head`, `base`, a step count such as -1, or a migration name (any unique prefix).
"""

import sys

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import DatabaseError, connection

from dbadmin import database_access, migrations_plan


class Command(BaseCommand):
    help = "Manage the database schema: reset, upgrade, downgrade, or list the migrations."
    # The checks would open the database before we can explain that it is unreachable.
    requires_system_checks = []
    requires_migrations_checks = False

    def add_arguments(self, parser):
        actions = parser.add_subparsers(dest="action", required=True, metavar="{reset,upgrade,downgrade,revisions}")

        reset = actions.add_parser("reset", help="Remove all data and tables, then apply every migration again.")
        add_yes(reset)

        upgrade = actions.add_parser("upgrade", help="Apply migrations (all of them unless -r says otherwise).")
        add_yes(upgrade)
        upgrade.add_argument(
            "-r", "--revision", default="head",
            help="head (default), -N for the next N migrations, or a migration name to stop at (prefix accepted).",
        )
        add_dry_run(upgrade)

        downgrade = actions.add_parser("downgrade", help="Undo migrations (the last one unless -r says otherwise).")
        add_yes(downgrade)
        downgrade.add_argument(
            "-r", "--revision", default="-1",
            help="-N to undo the last N migrations (default -1), a migration name to go back to, or base for none.",
        )
        add_dry_run(downgrade)

        actions.add_parser("revisions", help="List every migration in applied order and whether it is applied.")

    def handle(self, *args, action, **options):
        database = settings.DATABASES["default"]
        self.verbosity = options["verbosity"]
        try:
            if action == "revisions":
                return self.show_revisions(database)
            dry_run = options.get("dry_run", False)
            if database_access.is_in_memory(database) and not dry_run:
                raise CommandError(
                    f"The database is in-memory SQLite, which exists only inside one process: `database {action}` "
                    "would change a copy that disappears when this command exits. `serve` creates the schema "
                    "of an in-memory database itself; use a database file or PostgreSQL to manage migrations."
                )
            if action == "reset":
                return self.reset(database, yes=options["yes"])
            return self.migrate(database, action, options["revision"], yes=options["yes"], dry_run=dry_run)
        except database_access.DatabaseUnavailable as exc:
            raise CommandError(str(exc)) from None
        except migrations_plan.RevisionError as exc:
            raise CommandError(str(exc)) from None

    def show_revisions(self, database):
        revisions = self.read_revisions(database)
        applied = sum(rev.applied for rev in revisions)
        self.stdout.write(f"Database: {database_access.describe_url(database)}")
        self.stdout.write(f"{applied} of {len(revisions)} migrations applied ([X] applied, [ ] pending):")
        for rev in revisions:
            self.stdout.write(f"  [{'X' if rev.applied else ' '}] {rev.label}")

    def migrate(self, database, direction, revision, *, yes, dry_run):
        revisions = self.read_revisions(database)
        if direction == "upgrade":
            plan = migrations_plan.plan_upgrade(revisions, revision)
        else:
            plan = migrations_plan.plan_downgrade(revisions, revision)
        verb = "apply" if direction == "upgrade" else "undo"
        if not plan.steps:
            self.stdout.write(f"Nothing to {direction}: the database is already at the requested revision.")
            return
        if dry_run:
            self.stdout.write(f"Dry run: would {verb} {len(plan.steps)} migration(s) on "
                              f"{database_access.describe_url(database)}, in this order:")
            for label in plan.labels:
                self.stdout.write(f"  {label}")
            self.stdout.write("Nothing was changed.")
            return
        self.confirm(f"{direction.capitalize()} the database at {database_access.describe_url(database)} "
                     f"({verb} {len(plan.steps)} migration(s))?", yes)
        self.execute_plan(plan)
        done = "applied" if direction == "upgrade" else "undone"
        self.stdout.write(self.style.SUCCESS(f"Database {direction}d: {len(plan.steps)} migration(s) {done}."))

    def reset(self, database, *, yes):
        self.confirm(f"Reset the database at {database_access.describe_url(database)}? "
                     "This removes ALL data and recreates the tables.", yes)
        revisions = self.read_revisions(database)
        self.execute_plan(migrations_plan.plan_downgrade(revisions, "base"))
        self.execute_plan(migrations_plan.plan_upgrade(self.read_revisions(database), "head"))
        self.stdout.write(self.style.SUCCESS("Database reset: all data removed and every migration applied."))

    def read_revisions(self, database):
        if database_access.sqlite_file_missing(database):
            # Nothing is applied in a file that does not exist; don't create it just to look.
            return migrations_plan.list_revisions(read_database=False)
        database_access.ensure_reachable()
        return migrations_plan.list_revisions()

    def execute_plan(self, plan):
        if not plan.steps:
            return
        database_access.ensure_reachable()

        def progress(action, migration=None, fake=False):
            if action in {"apply_start", "unapply_start"} and self.verbosity >= 1:
                doing = "Applying" if action == "apply_start" else "Undoing"
                self.stdout.write(f"  {doing} {migration.app_label}.{migration.name}")

        try:
            migrations_plan.execute(plan, verbosity=self.verbosity, progress=progress)
        except DatabaseError as exc:
            raise CommandError(
                f"The {plan.direction} stopped with a database error: {database_access.short_reason(exc)}"
            ) from None
        finally:
            connection.close()

    def confirm(self, question, yes):
        if yes:
            return
        if not sys.stdin.isatty():
            raise CommandError(f"{question} There is no terminal to ask on, so nothing was changed; "
                               "add -y to confirm.")
        answer = input(f"{question} [y/N] ")
        if answer.strip().lower() not in {"y", "yes"}:
            raise CommandError("Cancelled; nothing was changed.")


def add_yes(parser):
    parser.add_argument("-y", "--yes", action="store_true", help="Do not ask for confirmation.")


def add_dry_run(parser):
    parser.add_argument("--dry-run", action="store_true", help="Print the migrations that would run; change nothing.")

"""`manage.py serve`: this project's `prefect server start`."""

import os
import sys

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.db import DatabaseError, connection

from dbadmin import serving
from dbadmin.database_access import DatabaseUnavailable, ensure_reachable, is_sqlite
from orchestrator_site import config


class Command(BaseCommand):
    help = (
        "Start the API server (gunicorn with ASGI workers) and the background services (a django-q2 "
        "cluster); migrate the database first unless PREFECT_API_DATABASE_MIGRATE_ON_START is false."
    )
    # Checks and the migration warning would run against a database we may be about to migrate.
    requires_system_checks = []
    requires_migrations_checks = False

    def add_arguments(self, parser):
        parser.add_argument("--host", help="Address to bind (default: PREFECT_SERVER_API_HOST, 127.0.0.1).")
        parser.add_argument("--port", type=int, help="Port to bind (default: PREFECT_SERVER_API_PORT, 4200).")
        parser.add_argument(
            "--workers", type=int, help=f"Web worker processes (default: {serving.default_workers()} here)."
        )
        parser.add_argument(
            "--no-services", action="store_true",
            help="Serve the API and dashboard only; run `manage.py qcluster` elsewhere for the services.",
        )

    def handle(self, *args, host, port, workers, no_services, **options):
        prefect = settings.PREFECT
        try:
            plan = serving.plan_serve(
                host=host, port=port, workers=workers, no_services=no_services,
                prefect_settings=prefect, database=settings.DATABASES["default"],
            )
            serving.ensure_port_free(plan)
        except serving.ServeRefused as exc:
            raise CommandError(str(exc)) from None

        migrate_on_start = config.as_bool(prefect["PREFECT_API_DATABASE_MIGRATE_ON_START"].value)
        try:
            if not plan.in_memory:
                ensure_reachable()  # one clear line at once, not a pool timeout later
            if not migrate_on_start:
                self.refuse_if_unmigrated()
            elif not plan.in_memory:
                call_command("migrate", interactive=False, verbosity=0)
        except DatabaseUnavailable as exc:
            raise CommandError(str(exc)) from None
        except DatabaseError as exc:
            raise CommandError(f"Cannot prepare the database ({describe_database()}): {exc}".strip()) from None
        # The children open their own connections; a shared socket across processes would be unsafe.
        connection.close()
        # The children must know where they are served (run links in notifications, for one), even
        # when --host/--port chose it rather than the settings.
        os.environ.update(PREFECT_SERVER_API_HOST=plan.host, PREFECT_SERVER_API_PORT=str(plan.port))

        supervisor = serving.Supervisor(out=self.stdout)
        supervisor.install_signal_handlers()
        exit_code = 0
        try:
            log_level = prefect["PREFECT_SERVER_LOGGING_LEVEL"].value or "warning"
            supervisor.start("web server", serving.gunicorn_command(plan, log_level))
            if plan.services:
                supervisor.start("services", serving.qcluster_command())
            if supervisor.wait_listening(plan.local_address):
                self.print_banner(plan)
            exit_code = supervisor.wait()
        finally:
            self.stdout.write("Stopping the server...")
            supervisor.stop_all()
            self.stdout.write("Server stopped.")
        if exit_code:
            sys.exit(exit_code)

    def refuse_if_unmigrated(self):
        pending = serving.pending_migrations(connection)
        if pending:
            raise CommandError(
                f"The database has {len(pending)} unapplied migration(s) and "
                "PREFECT_API_DATABASE_MIGRATE_ON_START is false. Run `python manage.py migrate` "
                "(or `python manage.py database upgrade`) first, or unset that setting."
            )

    def print_banner(self, plan):
        lines = [
            "",
            f"Orchestrator server {settings.SERVER_VERSION} API is running.",
            f"  Dashboard: {plan.base_url}/",
            f"  API:       {plan.api_url}",
            f"  API docs:  {plan.api_url}/docs",
            f"  Admin:     {plan.base_url}/admin/ (create a login with `python manage.py createsuperuser`)",
            "",
            "Point the prefect client at it with:",
            f"  export PREFECT_API_URL={plan.api_url}",
            "",
            f"Web workers: {plan.workers}. "
            + ("Background services: running." if plan.services else "Background services: off"
               + (" (in-memory database: one process only)." if plan.in_memory else " (--no-services).")),
            "Press Ctrl+C to stop.",
            "",
        ]
        self.stdout.write("\n".join(lines))
        self.stdout.flush()


def describe_database() -> str:
    database = settings.DATABASES["default"]
    if is_sqlite(database):
        return f"SQLite {database['NAME']}"
    return f"PostgreSQL {database.get('HOST') or 'localhost'}:{database.get('PORT') or 5432}/{database['NAME']}"

from django.apps import AppConfig


class DbadminConfig(AppConfig):
    name = "dbadmin"
    verbose_name = "Database administration"

    def ready(self):
        from django.conf import settings
        from django.db.backends.signals import connection_created

        from orchestrator_site import config

        if config.as_bool(settings.PREFECT["PREFECT_API_DATABASE_ECHO"].value):
            connection_created.connect(echo_every_statement, dispatch_uid="dbadmin-database-echo")


def echo_every_statement(sender, connection, **kwargs):
    """PREFECT_API_DATABASE_ECHO: Django logs SQL only through debug cursors, which it uses only
    when DEBUG is on; forcing them per connection makes every statement reach the
    django.db.backends logger (set to DEBUG by settings.py when ECHO is true)."""
    connection.force_debug_cursor = True

"""Gunicorn configuration used when the database is SQLite in memory.

An in-memory database belongs to the process that opened it, so the (single) web worker builds
the schema itself once the application is loaded and before it accepts requests. Django keeps
in-memory SQLite connections open, which keeps the database alive for the worker's lifetime.
"""


def post_worker_init(worker):
    from django.core.management import call_command

    call_command("migrate", interactive=False, verbosity=0)

"""A forked child (a django-q2 worker) opens its own database connections and leaves the
parent's alone: both go on working after the fork."""

import os

import pytest
from django.db import connection


@pytest.mark.django_db(transaction=True)
def test_a_forked_child_uses_its_own_connection_and_the_parent_keeps_its_own():
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    parent_connection = connection.connection
    pid = os.fork()
    if pid == 0:  # the child: report through the exit code only
        code = 1
        try:
            fresh = connection.connection is None
            with connection.cursor() as cursor:
                cursor.execute("SELECT 2")
                ok = cursor.fetchone()[0] == 2
            code = 0 if fresh and ok and connection.connection is not parent_connection else 3
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert connection.connection is parent_connection
    with connection.cursor() as cursor:  # the child did not close or share the parent's session
        cursor.execute("SELECT 3")
        assert cursor.fetchone()[0] == 3

"""A forked child must not use its parent's database connections.

django-q2 forks its workers from a process that has already talked to the database. Without
this, the children would carry the parent's open connections and (on PostgreSQL) its psycopg
pool: close_all() only hands a connection back to that pool, so siblings end up on the same
sockets and corrupt each other's transactions ("can't change 'autocommit' now"). After a fork the
child drops every inherited connection, pool and SQLite writer-lock handle and opens its own.
The inherited objects are kept referenced, never closed: closing or collecting them would end the
parent's sessions (libpq sends Terminate on the shared socket) or release the parent's lock.
"""

import os

_inherited: list = []


def forget_inherited_connections() -> None:
    from django.db import connections

    for wrapper in connections.all(initialized_only=True):
        pools = getattr(type(wrapper), "_connection_pools", None)
        if pools:
            _inherited.extend(pools.values())
            pools.clear()
        if getattr(wrapper, "_lock_file", None) is not None:  # orchestrator_site.sqlite
            _inherited.append(wrapper._lock_file)
            wrapper._lock_file, wrapper._lock_held = None, False
        if wrapper.connection is not None:
            _inherited.append(wrapper.connection)
            wrapper.connection = None


def register() -> None:
    os.register_at_fork(after_in_child=forget_inherited_connections)

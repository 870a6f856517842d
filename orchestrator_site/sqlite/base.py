"""SQLite, with writers queued on a file lock instead of SQLite's busy handler.

Every transaction here begins IMMEDIATE, so it takes SQLite's write lock at BEGIN. A writer that
finds the lock taken is put to sleep by SQLite's busy handler in growing steps (up to 100 ms) and
retries, so under concurrency most of a request's time was spent asleep while the lock sat free.
Here a transaction first takes an exclusive flock on `<database>-writers.lock`: waiters block in
the kernel and the next one wakes the moment the holder commits. Each connection has its own
open file, so threads of one process queue the same way as processes do; the kernel drops the
lock of a process that dies. In-memory databases (one process) need no lock.
"""

import fcntl
import os

from django.db.backends.sqlite3 import base


class DatabaseWrapper(base.DatabaseWrapper):
    _lock_file: int | None = None
    _lock_held = False

    def _writer_lock_fd(self) -> int | None:
        if self.is_in_memory_db():
            return None
        if self._lock_file is None:
            path = f"{self.settings_dict['NAME']}-writers.lock"
            self._lock_file = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        return self._lock_file

    def _start_transaction_under_autocommit(self):
        fd = self._writer_lock_fd()
        if fd is not None and not self._lock_held:
            fcntl.flock(fd, fcntl.LOCK_EX)
            self._lock_held = True
        try:
            super()._start_transaction_under_autocommit()
        except BaseException:
            self._release_writer_lock()
            raise

    def _release_writer_lock(self):
        if self._lock_held:
            self._lock_held = False
            fcntl.flock(self._lock_file, fcntl.LOCK_UN)

    def _commit(self):
        try:
            return super()._commit()
        finally:
            self._release_writer_lock()

    def _rollback(self):
        try:
            return super()._rollback()
        finally:
            self._release_writer_lock()

    def _close(self):
        try:
            return super()._close()
        finally:
            self._release_writer_lock()
            if self._lock_file is not None:
                os.close(self._lock_file)
                self._lock_file = None

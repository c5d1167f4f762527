"""Change notification on SQLite: a thread that wakes workers when another process commits.

SQLite has no LISTEN/NOTIFY. ``PRAGMA data_version`` changes whenever another connection
commits, and reading it costs microseconds, so a short poll on a dedicated connection wakes
workers within a few milliseconds of a commit from any process, without querying the jobs table.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable

DEFAULT_WATCH_INTERVAL_SECONDS = 0.002


class SqliteChangeWatcher:
    """Calls ``on_change`` from its thread after another connection commits."""

    def __init__(
        self,
        database: str,
        on_change: Callable[[], None],
        *,
        interval_seconds: float = DEFAULT_WATCH_INTERVAL_SECONDS,
    ) -> None:
        self._database = database
        self._on_change = on_change
        self._interval = interval_seconds
        self._stop = threading.Event()
        # The starting point is read before returning, so no commit after watch() is missed.
        self._conn = sqlite3.connect(database, check_same_thread=False)
        self._last = self._conn.execute("PRAGMA data_version").fetchone()[0]
        self._thread = threading.Thread(target=self._run, name="tickwork-sqlite-watch", daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._stop.set()
        if self._thread.is_alive() and threading.current_thread() is not self._thread:
            self._thread.join(timeout=1)

    def _run(self) -> None:
        conn, last = self._conn, self._last
        try:
            while not self._stop.wait(self._interval):
                try:
                    version = conn.execute("PRAGMA data_version").fetchone()[0]
                except sqlite3.Error:
                    continue
                if version != last:
                    self._on_change()
                last = version
        finally:
            conn.close()


class NoWatcher:
    """For stores that cannot tell: workers fall back to polling."""

    def close(self) -> None:
        return None

"""Change notification on PostgreSQL: LISTEN for the NOTIFY of transactions that made jobs due.

Every transaction that makes jobs due or pending sends one notification on ``NOTIFY_CHANNEL``
(delivered at commit), and ``PgNotifyWatcher`` listens on its own autocommit connection, from
a thread; ``PgLoopWatcher`` does the same as a task on the caller's event loop (no thread hop
between the notification and the worker waking). The same channel carries, with the payload
``ALERTS_PAYLOAD``, the word that alert evaluators should look now (a heartbeat check went down
or came back in some process): a watcher hands those to its ``on_alerts`` instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Callable
from typing import Any

log = logging.getLogger("tickwork.watch")

NOTIFY_CHANNEL = "tickwork_jobs"
# The payload of a notification for the alert evaluators (the workers' is empty).
ALERTS_PAYLOAD = "alerts"
# How long one wait for notifications lasts: the longest close() waits for the thread.
PG_WAIT_SECONDS = 0.25
PG_RECONNECT_BASE_SECONDS = 0.1
PG_RECONNECT_CAP_SECONDS = 5.0
LISTEN_CONNECT_OPTIONS: dict[str, Any] = {
    "autocommit": True,
    "connect_timeout": 5,
    "application_name": "tickwork-watch",
    # A peer that vanishes without a word (network cut) is noticed within ~30 s.
    "keepalives": 1,
    "keepalives_idle": 10,
    "keepalives_interval": 5,
    "keepalives_count": 3,
}


def _lost_warning(exc: BaseException) -> None:
    log.warning(
        "change notifications unavailable (%s: %s); reconnecting, polling meanwhile",
        type(exc).__name__,
        (str(exc).strip().splitlines() or [""])[0],
    )


class PgNotifyWatcher:
    """LISTEN on ``NOTIFY_CHANNEL`` on a dedicated autocommit connection (psycopg 3) and call
    ``on_change`` once per notification, from its own thread.

    The LISTEN is in place before the constructor returns (when the database is reachable), so
    no commit after ``watch()`` is missed. A dropped connection is re-opened with capped
    exponential backoff (one warning per outage); after a reconnect ``on_change`` is called once,
    since notifications sent meanwhile are lost.
    """

    def __init__(
        self,
        conninfo: str,
        on_change: Callable[[], None] | None,
        *,
        on_alerts: Callable[[], None] | None = None,
        wait_seconds: float = PG_WAIT_SECONDS,
        reconnect_base_seconds: float = PG_RECONNECT_BASE_SECONDS,
        reconnect_cap_seconds: float = PG_RECONNECT_CAP_SECONDS,
    ) -> None:
        self._conninfo = conninfo
        self._on_change = on_change
        self._on_alerts = on_alerts
        self._wait = wait_seconds
        self._base = reconnect_base_seconds
        self._cap = reconnect_cap_seconds
        self._stop = threading.Event()
        self._outage = False
        self._conn: Any = None
        try:
            self._conn = self._connect()
        except Exception as exc:
            self._lost(exc)
        self._thread = threading.Thread(target=self._run, name="tickwork-pg-watch", daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._stop.set()
        if self._thread.is_alive() and threading.current_thread() is not self._thread:
            self._thread.join(timeout=self._wait + 1)

    def _connect(self) -> Any:
        import psycopg

        conn = psycopg.connect(self._conninfo, **LISTEN_CONNECT_OPTIONS)
        try:
            conn.execute(f"LISTEN {NOTIFY_CHANNEL}")
        except Exception:
            conn.close()
            raise
        return conn

    def _lost(self, exc: BaseException) -> None:
        if not self._outage:
            self._outage = True
            _lost_warning(exc)

    def _run(self) -> None:
        delay = self._base
        try:
            while not self._stop.is_set():
                if self._conn is None:
                    try:
                        self._conn = self._connect()
                    except Exception as exc:
                        self._lost(exc)
                        self._stop.wait(delay)
                        delay = min(delay * 2, self._cap)
                        continue
                if self._outage:
                    self._outage = False
                    log.info("change notifications restored")
                    self._changed(None)  # whatever was sent meanwhile is lost: look once
                delay = self._base
                try:
                    for notice in self._conn.notifies(timeout=self._wait):
                        self._changed(notice.payload)
                        if self._stop.is_set():
                            break
                except Exception as exc:
                    self._lost(exc)
                    self._close_conn()
        finally:
            self._close_conn()

    def _changed(self, payload: str | None) -> None:
        _dispatch(payload, self._on_change, self._on_alerts)

    def _close_conn(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(Exception):
                conn.close()


class PgLoopWatcher:
    """``PgNotifyWatcher`` as a task on the running event loop (psycopg ``AsyncConnection``):
    ``on_change`` runs on the loop, without a thread hop. Create it on the loop.

    The LISTEN is made by the task, so ``on_change`` is also called once each time it is in
    place (at the start and after a reconnect): a commit made before may have been missed.
    Reconnects back off and log as ``PgNotifyWatcher`` does. ``aclose`` (on the loop) stops it
    and waits for its connection to close; ``close`` (from any thread) only asks it to stop.
    """

    def __init__(
        self,
        conninfo: str,
        on_change: Callable[[], None] | None,
        *,
        on_alerts: Callable[[], None] | None = None,
        reconnect_base_seconds: float = PG_RECONNECT_BASE_SECONDS,
        reconnect_cap_seconds: float = PG_RECONNECT_CAP_SECONDS,
    ) -> None:
        self._conninfo = conninfo
        self._on_change = on_change
        self._on_alerts = on_alerts
        self._base = reconnect_base_seconds
        self._cap = reconnect_cap_seconds
        self._outage = False
        self._loop = asyncio.get_running_loop()
        self._task = self._loop.create_task(self._run(), name="tickwork-pg-watch")

    def close(self) -> None:
        try:
            on_loop = asyncio.get_running_loop() is self._loop
        except RuntimeError:
            on_loop = False
        if on_loop:
            self._task.cancel()
        elif not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._task.cancel)

    async def aclose(self) -> None:
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task

    async def _connect(self) -> Any:
        import psycopg

        conn = await psycopg.AsyncConnection.connect(self._conninfo, **LISTEN_CONNECT_OPTIONS)
        try:
            await conn.execute(f"LISTEN {NOTIFY_CHANNEL}")
        except BaseException:
            await conn.close()
            raise
        return conn

    async def _run(self) -> None:
        delay = self._base
        while True:
            try:
                conn = await self._connect()
            except Exception as exc:
                if not self._outage:
                    self._outage = True
                    _lost_warning(exc)
                await asyncio.sleep(delay)
                delay = min(delay * 2, self._cap)
                continue
            if self._outage:
                self._outage = False
                log.info("change notifications restored")
            delay = self._base
            try:
                self._changed(None)  # whatever was sent before the LISTEN is lost: look once
                async for notice in conn.notifies():
                    self._changed(notice.payload)
            except Exception as exc:
                self._outage = True
                _lost_warning(exc)
            finally:
                with contextlib.suppress(Exception):
                    await conn.close()

    def _changed(self, payload: str | None) -> None:
        _dispatch(payload, self._on_change, self._on_alerts)


def _dispatch(
    payload: str | None,
    on_change: Callable[[], None] | None,
    on_alerts: Callable[[], None] | None,
) -> None:
    """Hand a notification to its callback (None: either may have been missed, call both)."""
    wanted: list[Callable[[], None]] = []
    if payload != ALERTS_PAYLOAD and on_change is not None:
        wanted.append(on_change)
    if payload in (None, ALERTS_PAYLOAD) and on_alerts is not None:
        wanted.append(on_alerts)
    for callback in wanted:
        try:
            callback()
        except Exception:  # the callback's failure is not the connection's
            log.exception("change callback failed")

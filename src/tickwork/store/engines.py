"""Engine set-up per backend: SQLite (WAL, one writer) and PostgreSQL (psycopg 3)."""

from __future__ import annotations

import select
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Engine, make_url

from tickwork.errors import ConfigError

SQLITE_BUSY_TIMEOUT_MS = 30_000
POSTGRES_POOL_SIZE = 8


def display_url(url: str) -> str:
    """``url`` fit for logs: the password masked, or a placeholder if it does not parse."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return "<invalid URL>"


def normalize_url(url: str) -> str:
    """Accept ``postgres://``/``postgresql://`` and pick the psycopg 3 driver for them."""
    try:
        parsed = make_url(url)
    except Exception as exc:  # SQLAlchemy raises ArgumentError with a useful text
        raise ConfigError(f"invalid database URL: {exc}", field="database_url") from None
    backend = parsed.get_backend_name()
    if backend in ("postgres", "postgresql"):
        return parsed.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)
    if backend == "sqlite":
        return url
    raise ConfigError(
        f"unsupported database {backend!r}: use sqlite:///path.db or postgresql://...",
        field="database_url",
    )


def create_sqlite_engine(url: str) -> Engine:
    engine = sa.create_engine(url, connect_args={"check_same_thread": False})

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # We issue BEGIN ourselves (see below), so the driver must not.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        # NORMAL in WAL mode survives process crashes; only an OS crash may lose the last commits.
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        # Writers take the lock up front: a deferred transaction that upgrades to a write
        # fails with SQLITE_BUSY at once instead of waiting for busy_timeout.
        read_only = conn.get_execution_options().get("tickwork_read", False)
        conn.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")

    return engine


def create_postgres_engine(url: str) -> Engine:
    engine = sa.create_engine(url, pool_size=POSTGRES_POOL_SIZE, max_overflow=0)

    @event.listens_for(engine, "checkout")
    def _check_alive(dbapi_conn: Any, _record: Any, _proxy: Any) -> None:
        # Instead of a ping (two round trips on every checkout, ~80 µs): an idle pooled
        # connection has nothing to read, so a readable socket means the server sent something
        # unasked (a termination notice, or EOF) and the connection is replaced.
        if dbapi_conn.closed or dbapi_conn.broken or _readable(dbapi_conn.fileno()):
            raise sa.exc.DisconnectionError("connection closed by the server")

    return engine


def _readable(fd: int) -> bool:
    try:
        ready, _, _ = select.select([fd], [], [], 0)
    except (OSError, ValueError):
        return True
    return bool(ready)


def create_engine(url: str) -> Engine:
    url = normalize_url(url)
    if url.startswith("sqlite"):
        return create_sqlite_engine(url)
    return create_postgres_engine(url)

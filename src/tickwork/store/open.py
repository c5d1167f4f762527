"""Opening the store of a database URL: the backend for the URL, and a schema that is current.

Two rules, one per kind of caller. Processes (``tickwork run|worker|scheduler|api``) and the
Python API *prepare* a store: an embedded SQLite file is created or migrated on the spot (that
is what embedded means), a server database must have been migrated on purpose. Every other
command *opens an existing* one and never creates or migrates anything, so that a mistyped URL
is reported instead of silently becoming a new, empty database.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from sqlalchemy.engine import Engine, make_url

from tickwork.errors import SchemaError, StoreError, TickworkError
from tickwork.store import migrate
from tickwork.store.database import Database
from tickwork.store.engines import create_engine, display_url, normalize_url
from tickwork.store.sqlstore import SqlStore

_UPGRADE = 'run "tickwork db upgrade"'


def create_store(url: str) -> SqlStore:
    """The store for a database URL; the one place where a backend is picked. Checks nothing
    (a SQLite file appears on its first connection)."""
    return store_on(create_engine(url))


def store_on(engine: Engine, *, threads: int | None = None) -> SqlStore:
    """The store on an engine, with its dialect's backend; ``threads`` for its blocking work
    (default: one on SQLite, whose one writer gains nothing from more; one per pooled
    connection on PostgreSQL)."""
    if engine.dialect.name == "sqlite":
        from tickwork.store.sqlite.backend import SqliteBackend

        db = Database(engine, threads=threads or 1, errors=SqliteBackend.errors)
        return SqlStore(db, SqliteBackend(db))
    # psycopg takes ~0.1 s to import: only PostgreSQL stores load it, not every SQLite command.
    from tickwork.store.postgres.backend import PostgresBackend
    from tickwork.store.postgres.engine import POSTGRES_POOL_SIZE

    db = Database(engine, threads=threads or POSTGRES_POOL_SIZE, errors=PostgresBackend.errors)
    return SqlStore(db, PostgresBackend(db))


def prepare_store(url: str) -> SqlStore:
    """A store whose schema is current: an embedded SQLite file is created or migrated on the
    spot, a server database must have been migrated on purpose (``tickwork db upgrade``)."""
    return _open(url, migrate_embedded=True)


def open_existing_store(url: str) -> SqlStore:
    """The store of an existing tickwork database with a current schema. Creates and migrates
    nothing: ``SchemaError`` naming the database if it is missing, has no tickwork tables or
    an older schema."""
    return _open(url, migrate_embedded=False)


def sqlite_file(url: str) -> Path | None:
    """The file of a SQLite URL (absolute); None for other databases and in-memory SQLite."""
    parsed = make_url(normalize_url(url))
    if parsed.get_backend_name() != "sqlite":
        return None
    database = parsed.database
    if not database or database == ":memory:" or parsed.query.get("mode") == "memory":
        return None
    return Path(database).resolve()


def describe(url: str) -> str:
    """How messages name a database: a SQLite file by its path, others by their URL with the
    password masked."""
    path = sqlite_file(url)
    if path is not None:
        return str(path)
    if make_url(normalize_url(url)).get_backend_name() == "sqlite":
        return "the in-memory SQLite database"
    return display_url(url)


def existing_revision(url: str) -> str | None:
    """The schema revision of an existing database (None: no tickwork tables), read without
    creating or changing anything; ``SchemaError`` if a SQLite file does not exist."""
    path = sqlite_file(url)
    if path is not None:
        return _sqlite_revision(path)
    engine = create_engine(url)
    try:
        return migrate.current_revision(engine)
    except Exception as exc:
        raise StoreError(f"cannot read the schema: {type(exc).__name__}: {exc}") from exc
    finally:
        engine.dispose()


def require_current(revision: str | None, where: str) -> None:
    """``SchemaError`` unless ``revision`` (read from the database named ``where``) is the
    newest one."""
    if revision is None:
        raise SchemaError(f"no tickwork tables in {where} ({_UPGRADE} first)")
    if migrate.is_newer(revision):
        raise SchemaError(migrate.newer_schema_message(revision, where))
    if revision != migrate.HEAD_REVISION:
        raise SchemaError(
            f"the tickwork schema in {where} is at revision {revision}, this version of tickwork"
            f" needs {migrate.HEAD_REVISION} ({_UPGRADE})"
        )


def _open(url: str, *, migrate_embedded: bool) -> SqlStore:
    path = sqlite_file(url)
    if path is not None and not migrate_embedded:
        require_current(_sqlite_revision(path), str(path))
        return create_store(url)
    store = create_store(url)
    try:
        revision = migrate.current_revision(store.engine)
        if revision != migrate.HEAD_REVISION:
            if store.dialect == "sqlite" and migrate_embedded:
                migrate.upgrade(store.engine)
            else:
                require_current(revision, describe(url))
    except Exception as exc:
        store.engine.dispose()
        if isinstance(exc, TickworkError):
            raise
        raise StoreError(f"cannot open the database: {type(exc).__name__}: {exc}") from exc
    return store


def _sqlite_revision(path: Path) -> str | None:
    # Read on a read-only connection before any engine exists: a missing file is not created,
    # and a SQLite file of something else is not touched (not even its journal mode, which the
    # store's connections set).
    if not path.exists():
        raise SchemaError(
            f'no tickwork database at {path} (run "tickwork db upgrade" or "tickwork run" first)'
        )
    try:
        conn = sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True)
    except sqlite3.Error as exc:
        raise SchemaError(f"cannot open {path} as a SQLite database: {exc}") from None
    try:
        found = conn.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?",
            (migrate.VERSION_TABLE,),
        ).fetchone()
        if found is None:
            return None
        row = conn.execute(migrate.REVISION_SQL).fetchone()
        return None if row is None else str(row[0])
    except sqlite3.DatabaseError as exc:  # e.g. "file is not a database"
        raise SchemaError(f"{path} is not a tickwork database: {exc}") from None
    finally:
        conn.close()

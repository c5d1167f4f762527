"""Persistence: the Store protocol and its SQL implementation for SQLite and PostgreSQL."""

from __future__ import annotations

from tickwork.store.base import Fire, ProcessorInfo, Store, SyncReport
from tickwork.store.engines import POSTGRES_POOL_SIZE, create_engine
from tickwork.store.sqlstore import SqlStore

__all__ = ["Fire", "ProcessorInfo", "SqlStore", "Store", "SyncReport", "create_store"]


def create_store(url: str) -> SqlStore:
    """The store for a database URL; the one place where a backend is picked."""
    engine = create_engine(url)
    if engine.dialect.name == "sqlite":
        return SqlStore(engine, threads=1, skip_locked=False)
    return SqlStore(engine, threads=POSTGRES_POOL_SIZE, skip_locked=True)

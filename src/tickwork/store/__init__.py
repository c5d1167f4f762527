"""Persistence: the Store protocol and its SQL implementation for SQLite and PostgreSQL."""

from __future__ import annotations

from tickwork.store.base import Fire, ProcessorInfo, Store, SyncReport
from tickwork.store.open import create_store
from tickwork.store.sqlstore import SqlStore

__all__ = ["Fire", "ProcessorInfo", "SqlStore", "Store", "SyncReport", "create_store"]

"""Persistence: the store's role protocols and their SQL implementation for SQLite and PostgreSQL.

Names are imported on first use: ``tickwork.store.base`` (the protocols, used by every layer)
must not load SQLAlchemy for commands that never open a store.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tickwork.lazy import lazy_exports

if TYPE_CHECKING:
    from tickwork.store.base import RuntimeStore, Store
    from tickwork.store.open import create_store
    from tickwork.store.sqlstore import SqlStore

_EXPORTS = {
    "RuntimeStore": "tickwork.store.base",
    "Store": "tickwork.store.base",
    "SqlStore": "tickwork.store.sqlstore",
    "create_store": "tickwork.store.open",
}

__all__ = ["RuntimeStore", "SqlStore", "Store", "create_store"]


__getattr__ = lazy_exports(__name__, _EXPORTS, globals())

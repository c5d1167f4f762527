"""Users, API tokens, the audit log and run-time control in SQL."""

from __future__ import annotations

from tickwork.store.sqlbase import SqlBase


class SqlAccounts(SqlBase):
    """The Store protocol's accounts, audit and control methods."""

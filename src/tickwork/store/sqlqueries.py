"""Single-task changes, paged job and run queries, run statistics and queue figures in SQL."""

from __future__ import annotations

from tickwork.store.sqlbase import SqlBase


class SqlQueries(SqlBase):
    """The Store protocol's query and single-task methods used by the API."""

"""Alembic environment: runs tickwork's migrations on the connection handed in by migrate.py."""

from __future__ import annotations

from alembic import context

from tickwork.store import schema_alerting  # noqa: F401 - its tables join the metadata
from tickwork.store.migrate import VERSION_TABLE
from tickwork.store.schema import metadata

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=metadata,
    version_table=VERSION_TABLE,
    render_as_batch=connection.dialect.name == "sqlite",
)
with context.begin_transaction():
    context.run_migrations()

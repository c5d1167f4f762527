"""A task's runs newest first from its index alone: ``ix_tickwork_runs_task_started`` ends with
the run's ID, the tie-break of runs that started at the same time.

SQLite keeps the row ID in every index already; PostgreSQL sorted each task's newest runs by ID
after the index scan, once per task (the jobs list's "failing" filter probes every task). The
upgrade builds the index again: writes to the runs table wait meanwhile (seconds per million
runs).

Revision ID: 0012
Revises: 0011
"""

from __future__ import annotations

from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

INDEX = "ix_tickwork_runs_task_started"
TABLE = "tickwork_runs"


def upgrade() -> None:
    op.drop_index(INDEX, table_name=TABLE)
    op.create_index(INDEX, TABLE, ["task_name", "started_at", "id"])


def downgrade() -> None:
    op.drop_index(INDEX, table_name=TABLE)
    op.create_index(INDEX, TABLE, ["task_name", "started_at"])

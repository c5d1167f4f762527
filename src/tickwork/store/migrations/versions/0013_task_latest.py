"""Each task's latest run in a table of its own (``tickwork_task_latest``), kept by the paths
that record runs: the jobs list's filter on the latest run's status (the overview's failing
jobs) reads its status index instead of one seek per task.

The upgrade fills it from the runs: one walk of the task names in
``ix_tickwork_runs_task_started``, then one seek per task (seconds per million runs).

Revision ID: 0013
Revises: 0012
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from tickwork.store.schema import UTCDateTime

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

TABLE = "tickwork_task_latest"
INDEX = "ix_tickwork_task_latest_status"
# This revision's own copy: later changes to the store's text must not change what it did.
BACKFILL_SQL = f"""
INSERT INTO {TABLE} (task_name, run_id, started_at, status)
SELECT r.task_name, r.id, r.started_at, r.status
FROM (SELECT DISTINCT task_name FROM tickwork_runs) AS t
JOIN tickwork_runs AS r ON r.id = (
    SELECT n.id FROM tickwork_runs AS n WHERE n.task_name = t.task_name
    ORDER BY n.started_at DESC, n.id DESC LIMIT 1)
"""


def upgrade() -> None:
    op.create_table(
        TABLE,
        sa.Column("task_name", sa.String(200), primary_key=True),
        sa.Column("run_id", sa.BigInteger, nullable=False),
        sa.Column("started_at", UTCDateTime, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
    )
    op.execute(BACKFILL_SQL)
    op.create_index(INDEX, TABLE, ["status", "task_name"])
    # Statistics now, not at the next autovacuum: the filters' plans depend on them.
    op.execute(f"ANALYZE {TABLE}")


def downgrade() -> None:
    op.drop_index(INDEX, table_name=TABLE)
    op.drop_table(TABLE)

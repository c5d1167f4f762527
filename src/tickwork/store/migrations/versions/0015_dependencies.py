"""Job dependencies: the upstream run that released a job (``tickwork_jobs.released_by_run_id``,
one release per downstream task and upstream run) and how far the release has read the runs
(``tickwork_dependency_cursor``).

Revision ID: 0015
Revises: 0014
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from tickwork.store.schema import UTCDateTime

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

INDEX = "uq_tickwork_jobs_released_by"
CURSOR = "tickwork_dependency_cursor"


def upgrade() -> None:
    with op.batch_alter_table("tickwork_jobs") as batch:
        batch.add_column(sa.Column("released_by_run_id", sa.BigInteger))
    released = sa.text("released_by_run_id IS NOT NULL")
    op.create_index(
        INDEX,
        "tickwork_jobs",
        ["task_name", "released_by_run_id"],
        unique=True,
        postgresql_where=released,
        sqlite_where=released,
    )
    op.create_table(
        CURSOR,
        sa.Column("name", sa.String(32), primary_key=True),
        sa.Column("run_id", sa.BigInteger, nullable=False),
        sa.Column("updated_at", UTCDateTime, nullable=False),
    )


def downgrade() -> None:
    op.drop_table(CURSOR)
    op.drop_index(INDEX, table_name="tickwork_jobs")
    with op.batch_alter_table("tickwork_jobs") as batch:
        batch.drop_column("released_by_run_id")

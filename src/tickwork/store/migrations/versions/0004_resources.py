"""Resource use and who triggered a run, on each run record.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("tickwork_runs") as batch:
        batch.add_column(sa.Column("peak_memory_mb", sa.Float))
        batch.add_column(sa.Column("cpu_seconds", sa.Float))
        batch.add_column(sa.Column("cpu_percent", sa.Float))
        batch.add_column(sa.Column("resource_scope", sa.String(16)))
        batch.add_column(sa.Column("requested_by", sa.String(200)))
    with op.batch_alter_table("tickwork_jobs") as batch:
        batch.add_column(sa.Column("requested_by", sa.String(200)))
    op.create_index(
        "ix_tickwork_jobs_finished",
        "tickwork_jobs",
        ["finished_at"],
        postgresql_where=sa.text("finished_at IS NOT NULL"),
        sqlite_where=sa.text("finished_at IS NOT NULL"),
    )
    op.create_index("ix_tickwork_audit_at", "tickwork_audit", ["at"])


def downgrade() -> None:
    op.drop_index("ix_tickwork_audit_at", "tickwork_audit")
    op.drop_index("ix_tickwork_jobs_finished", "tickwork_jobs")
    with op.batch_alter_table("tickwork_jobs") as batch:
        batch.drop_column("requested_by")
    with op.batch_alter_table("tickwork_runs") as batch:
        for name in ("requested_by", "resource_scope", "cpu_percent", "cpu_seconds"):
            batch.drop_column(name)
        batch.drop_column("peak_memory_mb")

"""A job definition's pause: when, by whom, why and until when its schedule does not fire.

Revision ID: 0009
Revises: 0008
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from tickwork.store.schema import UTCDateTime

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # batch mode: SQLite adds columns in place too, and both dialects take the same code.
    with op.batch_alter_table("tickwork_tasks") as batch:
        batch.add_column(sa.Column("paused_at", UTCDateTime))
        batch.add_column(sa.Column("paused_by", sa.String(200)))
        batch.add_column(sa.Column("pause_reason", sa.Text))
        batch.add_column(sa.Column("pause_until", UTCDateTime))
    op.create_index(
        "ix_tickwork_tasks_paused",
        "tickwork_tasks",
        ["pause_until"],
        postgresql_where=sa.text("paused_at IS NOT NULL"),
        sqlite_where=sa.text("paused_at IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_index("ix_tickwork_tasks_paused", table_name="tickwork_tasks")
    with op.batch_alter_table("tickwork_tasks") as batch:
        for name in ("pause_until", "pause_reason", "paused_by", "paused_at"):
            batch.drop_column(name)

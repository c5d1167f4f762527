"""Failures grouped by error: the index of failed and timed-out jobs by finish time, and the
acknowledged failures per fingerprint.

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from tickwork.store.schema import UTCDateTime

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

FAILED = "state IN ('failed', 'timeout')"


def upgrade() -> None:
    op.create_index(
        "ix_tickwork_jobs_failed",
        "tickwork_jobs",
        ["finished_at"],
        postgresql_where=sa.text(FAILED),
        sqlite_where=sa.text(FAILED),
    )
    op.create_table(
        "tickwork_failure_acks",
        sa.Column("fingerprint", sa.String(64), primary_key=True),
        sa.Column("acknowledged_until", UTCDateTime, nullable=False),
        sa.Column("acknowledged_at", UTCDateTime, nullable=False),
        sa.Column("acknowledged_by", sa.String(200), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("tickwork_failure_acks")
    op.drop_index("ix_tickwork_jobs_failed", table_name="tickwork_jobs")

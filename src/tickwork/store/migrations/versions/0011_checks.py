"""Heartbeat checks: each check with what its pings told, and its newest pings.

Revision ID: 0011
Revises: 0010
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from tickwork.store.schema import UTCDateTime

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "tickwork_checks",
        sa.Column("uuid", sa.String(36), primary_key=True),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("period_seconds", sa.Float),
        sa.Column("cron", sa.String(200)),
        sa.Column("timezone", sa.String(64), nullable=False),
        sa.Column("grace_seconds", sa.Float, nullable=False),
        sa.Column("description", sa.Text, nullable=False),
        sa.Column("tags", sa.JSON, nullable=False),
        sa.Column("source", sa.String(8), nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("paused_at", UTCDateTime),
        sa.Column("last_ping_at", UTCDateTime),
        sa.Column("last_ping_kind", sa.String(8)),
        sa.Column("last_outcome", sa.String(8)),
        sa.Column("last_outcome_at", UTCDateTime),
        sa.Column("last_exit_status", sa.Integer),
        sa.Column("started_at", UTCDateTime),
        sa.Column("start_rid", sa.String(64)),
        sa.Column("last_duration_seconds", sa.Float),
        sa.Column("pings", sa.BigInteger, nullable=False),
    )
    op.create_index("ux_tickwork_checks_name", "tickwork_checks", ["name"], unique=True)
    op.create_table(
        "tickwork_check_pings",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True),
        sa.Column("check_uuid", sa.String(36), nullable=False),
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("at", UTCDateTime, nullable=False),
        sa.Column("exit_status", sa.Integer),
        sa.Column("rid", sa.String(64)),
        sa.Column("method", sa.String(8), nullable=False),
        sa.Column("remote_addr", sa.String(64), nullable=False),
        sa.Column("user_agent", sa.String(200), nullable=False),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("body_bytes", sa.Integer, nullable=False),
        sa.Column("duration_seconds", sa.Float),
    )
    op.create_index("ix_tickwork_check_pings_check", "tickwork_check_pings", ["check_uuid", "id"])


def downgrade() -> None:
    op.drop_index("ix_tickwork_check_pings_check", table_name="tickwork_check_pings")
    op.drop_table("tickwork_check_pings")
    op.drop_index("ux_tickwork_checks_name", table_name="tickwork_checks")
    op.drop_table("tickwork_checks")

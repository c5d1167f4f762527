"""Alerts: the state of each rule × subject (compare-and-set by version), its transitions, and
each channel's delivery health.

Revision ID: 0010
Revises: 0009
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from tickwork.store.schema import UTCDateTime

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "tickwork_alert_states",
        sa.Column("rule", sa.String(100), primary_key=True),
        sa.Column("subject", sa.String(300), primary_key=True),
        sa.Column("status", sa.String(8), nullable=False),
        sa.Column("changed_at", UTCDateTime),
        sa.Column("why", sa.Text, nullable=False),
        sa.Column("announced", sa.Boolean, nullable=False),
        sa.Column("announced_since", UTCDateTime),
        sa.Column("last_notice_at", UTCDateTime),
        sa.Column("flips", sa.JSON, nullable=False),
        sa.Column("flapping", sa.Boolean, nullable=False),
        sa.Column("acked_by", sa.String(200)),
        sa.Column("acked_at", UTCDateTime),
        sa.Column("muted_until", UTCDateTime),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("updated_at", UTCDateTime, nullable=False),
    )
    op.create_table(
        "tickwork_alert_transitions",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True),
        sa.Column("rule", sa.String(100), nullable=False),
        sa.Column("subject", sa.String(300), nullable=False),
        sa.Column("at", UTCDateTime, nullable=False),
        sa.Column("from_status", sa.String(8), nullable=False),
        sa.Column("to_status", sa.String(8), nullable=False),
        sa.Column("why", sa.Text, nullable=False),
        sa.Column("sent", sa.JSON, nullable=False),
        sa.Column("channels", sa.JSON, nullable=False),
        sa.Column("job_ids", sa.JSON, nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
    )
    op.create_index(
        "ix_tickwork_alert_transitions_key",
        "tickwork_alert_transitions",
        ["rule", "subject", "id"],
    )
    op.create_index("ix_tickwork_alert_transitions_at", "tickwork_alert_transitions", ["at"])
    op.create_table(
        "tickwork_alert_channels",
        sa.Column("channel", sa.String(64), primary_key=True),
        sa.Column("failures", sa.Integer, nullable=False),
        sa.Column("last_error", sa.Text),
        sa.Column("last_failure_at", UTCDateTime),
        sa.Column("last_success_at", UTCDateTime),
    )


def downgrade() -> None:
    op.drop_table("tickwork_alert_channels")
    op.drop_index("ix_tickwork_alert_transitions_at", table_name="tickwork_alert_transitions")
    op.drop_index("ix_tickwork_alert_transitions_key", table_name="tickwork_alert_transitions")
    op.drop_table("tickwork_alert_transitions")
    op.drop_table("tickwork_alert_states")

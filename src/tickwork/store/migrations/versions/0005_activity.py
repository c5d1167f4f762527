"""Activity: events and progress a run emits, and fires that did not become runs.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from tickwork.store.schema import UTCDateTime

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer, "sqlite")


def upgrade() -> None:
    op.create_table(
        "tickwork_run_events",
        sa.Column("id", ID, primary_key=True),
        sa.Column("job_id", sa.BigInteger, nullable=False),
        sa.Column("attempt", sa.Integer, nullable=False),
        sa.Column("task_name", sa.String(200), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("at", UTCDateTime, nullable=False),
        sa.Column("message", sa.Text),
        sa.Column("done", sa.Float),
        sa.Column("total", sa.Float),
        sa.Column("data", sa.JSON),
    )
    op.create_index(
        "ix_tickwork_run_events_job", "tickwork_run_events", ["job_id", "attempt", "id"]
    )
    op.create_index("ix_tickwork_run_events_at", "tickwork_run_events", ["at"])
    op.create_table(
        "tickwork_missed_fires",
        sa.Column("id", ID, primary_key=True),
        sa.Column("task_name", sa.String(200), nullable=False),
        sa.Column("fire_at", UTCDateTime, nullable=False),
        sa.Column("reason", sa.String(16), nullable=False),
        sa.Column("detail", sa.Text),
        sa.Column("recorded_at", UTCDateTime, nullable=False),
        sa.Column("job_id", sa.BigInteger),
    )
    op.create_index(
        "ix_tickwork_missed_fires_task", "tickwork_missed_fires", ["task_name", "fire_at"]
    )
    op.create_index("ix_tickwork_missed_fires_recorded", "tickwork_missed_fires", ["recorded_at"])


def downgrade() -> None:
    op.drop_table("tickwork_missed_fires")
    op.drop_table("tickwork_run_events")

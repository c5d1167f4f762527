"""Auto-rescheduling's override of a job's schedule, kept apart from its definition: a stride
(every n-th fire), an offset added to each fire, the circuit breaker's state.

Revision ID: 0014
Revises: 0013
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from tickwork.store.schema import UTCDateTime

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

_COLUMNS = (
    "auto_stride",
    "auto_offset_seconds",
    "auto_breaker",
    "auto_breaker_at",
    "auto_probe_job_id",
    "auto_changed_at",
)


def upgrade() -> None:
    with op.batch_alter_table("tickwork_tasks") as batch:
        batch.add_column(
            sa.Column("auto_stride", sa.Integer, nullable=False, server_default=sa.text("1"))
        )
        batch.add_column(
            sa.Column(
                "auto_offset_seconds", sa.Integer, nullable=False, server_default=sa.text("0")
            )
        )
        batch.add_column(sa.Column("auto_breaker", sa.String(16)))
        batch.add_column(sa.Column("auto_breaker_at", UTCDateTime))
        batch.add_column(sa.Column("auto_probe_job_id", sa.BigInteger))
        batch.add_column(sa.Column("auto_changed_at", UTCDateTime))


def downgrade() -> None:
    with op.batch_alter_table("tickwork_tasks") as batch:
        for name in reversed(_COLUMNS):
            batch.drop_column(name)

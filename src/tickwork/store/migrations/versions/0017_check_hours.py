"""Each heartbeat check's seconds by status per settled hour (``tickwork_check_hours``): the
weekly report's uptime replays a check's pings of an hour once, then reads the hour's row.
And an index of each check's pings by kind and time, so the replay of a short range reads its
pings and the newest of each kind before it by seeks, not by walking the older pings.

Nothing to fill: hours are replayed and kept on the first report that needs them.

Revision ID: 0017
Revises: 0016
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from tickwork.store.schema import UTCDateTime

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None

TABLE = "tickwork_check_hours"
INDEX = "ix_tickwork_check_pings_kind_at"
# This revision's own copy of the parts: later changes to the schema must not change it.
PARTS = ("new", "up", "late", "down", "paused", "unknown")


def upgrade() -> None:
    op.create_table(
        TABLE,
        sa.Column("hour", UTCDateTime, primary_key=True),
        sa.Column("check_uuid", sa.String(36), primary_key=True),
        *(sa.Column(f"{part}_seconds", sa.Float, nullable=False) for part in PARTS),
    )
    op.create_index(INDEX, "tickwork_check_pings", ["check_uuid", "kind", "at"])


def downgrade() -> None:
    op.drop_index(INDEX, table_name="tickwork_check_pings")
    op.drop_table(TABLE)

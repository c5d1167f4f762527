"""The API: users, tokens, the audit log and run-time control.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from tickwork.store.schema import UTCDateTime

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer, "sqlite")


def upgrade() -> None:
    op.create_table(
        "tickwork_users",
        sa.Column("id", ID, primary_key=True),
        sa.Column("name", sa.String(200), nullable=False, unique=True),
        sa.Column("password_hash", sa.Text),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("disabled_at", UTCDateTime),
    )
    op.create_table(
        "tickwork_tokens",
        sa.Column("id", ID, primary_key=True),
        sa.Column("user_id", sa.BigInteger, nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("scopes", sa.JSON, nullable=False),
        sa.Column("secret_hash", sa.String(64), nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("expires_at", UTCDateTime),
        sa.Column("revoked_at", UTCDateTime),
        sa.Column("last_used_at", UTCDateTime),
    )
    op.create_index("ix_tickwork_tokens_user", "tickwork_tokens", ["user_id"])
    op.create_table(
        "tickwork_audit",
        sa.Column("id", ID, primary_key=True),
        sa.Column("at", UTCDateTime, nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("target_type", sa.String(32), nullable=False),
        sa.Column("target", sa.String(450), nullable=False),
        sa.Column("before", sa.JSON),
        sa.Column("after", sa.JSON),
        sa.Column("request_id", sa.String(64)),
    )
    op.create_index("ix_tickwork_audit_target", "tickwork_audit", ["target_type", "target", "id"])
    op.create_index("ix_tickwork_audit_actor", "tickwork_audit", ["actor", "id"])
    op.create_table(
        "tickwork_control",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("value", sa.JSON),
        sa.Column("updated_at", UTCDateTime, nullable=False),
        sa.Column("updated_by", sa.String(200)),
    )


def downgrade() -> None:
    op.drop_table("tickwork_control")
    op.drop_index("ix_tickwork_audit_actor", "tickwork_audit")
    op.drop_index("ix_tickwork_audit_target", "tickwork_audit")
    op.drop_table("tickwork_audit")
    op.drop_index("ix_tickwork_tokens_user", "tickwork_tokens")
    op.drop_table("tickwork_tokens")
    op.drop_table("tickwork_users")

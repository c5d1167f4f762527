"""The audit log in SQL (Core, both dialects)."""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from tickwork.domain.access import AuditEntry, AuditQuery, NewAuditEntry
from tickwork.store.rows import AUDIT, audit_values, columns
from tickwork.store.schema import audit

_from_row = AUDIT.mapper()


def add(conn: Connection, entry: NewAuditEntry) -> int:
    new_id = conn.execute(
        audit.insert().values(**audit_values(entry)).returning(audit.c.id)
    ).scalar_one()
    return int(new_id)


def add_many(conn: Connection, entries: Sequence[NewAuditEntry]) -> None:
    # One row per statement: IDs follow the given order on both backends.
    for entry in entries:
        conn.execute(audit.insert().values(**audit_values(entry)))


def query(conn: Connection, q: AuditQuery) -> list[AuditEntry]:
    """``Store.query_audit``."""
    stmt = sa.select(*columns(AUDIT))
    if q.actor is not None:
        stmt = stmt.where(audit.c.actor == q.actor)
    if q.action is not None:
        if q.action.endswith("."):
            stmt = stmt.where(audit.c.action.startswith(q.action, autoescape=True))
        else:
            stmt = stmt.where(audit.c.action == q.action)
    if q.target_type is not None:
        stmt = stmt.where(audit.c.target_type == q.target_type)
    if q.target is not None:
        stmt = stmt.where(audit.c.target == q.target)
    if q.since is not None:
        stmt = stmt.where(audit.c.at >= q.since)
    if q.until is not None:
        stmt = stmt.where(audit.c.at < q.until)
    if q.before_id is not None:
        stmt = stmt.where(audit.c.id < q.before_id)
    if q.after_id is not None:
        stmt = stmt.where(audit.c.id > q.after_id).order_by(audit.c.id)
    else:
        stmt = stmt.order_by(audit.c.id.desc())
    return [_from_row(r) for r in conn.execute(stmt.limit(q.limit))]

"""Heartbeat checks' ping history for the weekly report (``Store.check_histories``), both
dialects: every check's pings of a range, its last finish and last start before it, and how
many of its pings are kept, in a few grouped reads (a report of many checks is not one read per
check). Bodies are never read."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from tickwork.domain.checks import FINISHES, Check, PingKind
from tickwork.domain.uptime import PingHistory, PingMark
from tickwork.store.checks import list_all
from tickwork.store.schema import check_pings

_p = check_pings.c
_MARK = (_p.check_uuid, _p.id, _p.kind, _p.at, _p.exit_status, _p.rid)
_FINISH_KINDS = sorted(k.value for k in FINISHES)


def _mark(row: Any) -> PingMark:
    return PingMark(int(row.id), PingKind(row.kind), row.at, row.exit_status, row.rid)


def histories(conn: Connection, start: datetime, end: datetime) -> list[tuple[Check, PingHistory]]:
    """``Store.check_histories``."""
    during: dict[str, list[PingMark]] = {}
    earlier: dict[str, list[PingMark]] = {}
    stored: dict[str, int] = {}
    rows = conn.execute(
        sa.select(*_MARK).where(_p.at >= start, _p.at < end).order_by(_p.check_uuid, _p.id)
    )
    for row in rows:
        during.setdefault(row.check_uuid, []).append(_mark(row))
    # The newest finish and the newest start of each check before the range.
    for kinds in (_FINISH_KINDS, [PingKind.START.value]):
        newest = (
            sa.select(sa.func.max(_p.id))
            .where(_p.at < start, _p.kind.in_(kinds))
            .group_by(_p.check_uuid)
            .scalar_subquery()
        )
        for row in conn.execute(sa.select(*_MARK).where(_p.id.in_(newest))):
            earlier.setdefault(row.check_uuid, []).append(_mark(row))
    counted = sa.select(_p.check_uuid, sa.func.count()).group_by(_p.check_uuid)
    for uuid, count in conn.execute(counted):
        stored[uuid] = int(count)
    return [
        (
            check,
            PingHistory(
                tuple(earlier.get(check.uuid, ())),
                tuple(during.get(check.uuid, ())),
                stored.get(check.uuid, 0),
            ),
        )
        for check in list_all(conn)
    ]

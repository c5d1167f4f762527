"""Heartbeat checks' ping history for the weekly report (``Store.check_histories``), both
dialects: every check's pings of a range, its last finish and last start before it, and how
many of its pings are kept, in a few grouped reads (a report of many checks is not one read per
check); bodies are never read. Beside them, the figures of the settled hours already replayed
(``tickwork_check_hours``), read and kept."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from tickwork.domain.checks import FINISHES, Check, CheckStatus, PingKind
from tickwork.domain.uptime import HOUR, HourFigures, KeptHours, PingHistory, PingMark, hour_runs
from tickwork.store.backend import Backend
from tickwork.store.checks import list_all
from tickwork.store.schema_alerting import CHECK_HOUR_PARTS, check_hours, check_pings, checks

_p = check_pings.c
_MARK = (_p.check_uuid, _p.id, _p.kind, _p.at, _p.exit_status, _p.rid)
_KINDS = sorted(k.value for k in PingKind)
_h = check_hours.c
# Each status's column in an hour row; None (unknown) is the last part.
_COLUMNS: dict[CheckStatus | None, str] = {
    **{CheckStatus(part): f"{part}_seconds" for part in CHECK_HOUR_PARTS[:-1]},
    None: "unknown_seconds",
}


def _mark(row: Any) -> PingMark:
    return PingMark(int(row.id), PingKind(row.kind), row.at, row.exit_status, row.rid)


def histories(conn: Connection, start: datetime, end: datetime) -> list[tuple[Check, PingHistory]]:
    """``Store.check_histories``."""
    during: dict[str, list[PingMark]] = {}
    earlier: dict[str, list[PingMark]] = {}
    stored: dict[str, int] = {}
    # Check by check along ``ix_tickwork_check_pings_kind_at``: the range's pings of each kind,
    # and the newest of each kind before it (a seek each), never a walk of older pings.
    c = checks.c
    rows = conn.execute(
        sa.select(*_MARK)
        .select_from(checks.join(check_pings, _p.check_uuid == c.uuid))
        .where(_p.kind.in_(_KINDS), _p.at >= start, _p.at < end)
        # The index's order (SQLite then walks it check by check; by ID it would scan it all);
        # the replay puts each check's pings in time order.
        .order_by(c.uuid, _p.kind, _p.at)
    )
    for row in rows:
        during.setdefault(row.check_uuid, []).append(_mark(row))
    newest = [
        sa.select(_p.id)
        .where(_p.check_uuid == c.uuid, _p.kind == kind, _p.at < start)
        .order_by(_p.at.desc(), _p.id.desc())
        .limit(1)
        .scalar_subquery()
        for kind in _KINDS
        if kind != PingKind.LOG.value
    ]
    picked = sa.union_all(*(sa.select(n).select_from(checks) for n in newest))
    before: dict[str, dict[PingKind, PingMark]] = {}
    for row in conn.execute(sa.select(*_MARK).where(_p.id.in_(picked))):
        before.setdefault(row.check_uuid, {})[PingKind(row.kind)] = _mark(row)
    for uuid, marks in before.items():
        # Its newest finish (success or failure) and its newest start.
        finishes = [m for kind, m in marks.items() if kind in FINISHES]
        earlier[uuid] = [
            *sorted(finishes, key=lambda m: (m.at, m.id))[-1:],
            *([marks[PingKind.START]] if PingKind.START in marks else []),
        ]
    # How many pings are kept matters only to a check with no finish before the range.
    finished = {u for u, marks in earlier.items() if any(m.kind in FINISHES for m in marks)}
    every = list_all(conn)
    uncounted = [c.uuid for c in every if c.uuid not in finished]
    if uncounted:
        counted = (
            sa.select(_p.check_uuid, sa.func.count())
            .where(_p.check_uuid.in_(uncounted))
            .group_by(_p.check_uuid)
        )
        for uuid, count in conn.execute(counted):
            stored[uuid] = int(count)
    return [
        (
            check,
            PingHistory(
                tuple(earlier.get(check.uuid, ())),
                tuple(during.get(check.uuid, ())),
                None if check.uuid in finished else stored.get(check.uuid, 0),
            ),
        )
        for check in every
    ]


def kept_hours(conn: Connection, start: datetime, end: datetime) -> list[KeptHours]:
    """``Store.check_hours``: per check, its kept hours starting in ``[start, end)`` summed in
    SQL, with their runs: one run from the first to the last when they have no gap (the usual
    case: reports keep every settled hour of their range), else read hour by hour."""
    where = (_h.hour >= start, _h.hour < end)
    sums = [sa.func.sum(getattr(_h, column)) for column in _COLUMNS.values()]
    grouped = conn.execute(
        sa.select(_h.check_uuid, sa.func.count(), sa.func.min(_h.hour), sa.func.max(_h.hour), *sums)
        .where(*where)
        .group_by(_h.check_uuid)
        .order_by(_h.check_uuid)
    ).all()
    found: list[KeptHours] = []
    gapped: list[str] = []
    for uuid, count, first, last, *seconds in grouped:
        if first + (count - 1) * HOUR != last:
            gapped.append(uuid)
        found.append(
            KeptHours(
                uuid,
                {status: float(value) for status, value in zip(_COLUMNS, seconds, strict=True)},
                ((first, last + HOUR),),
            )
        )
    if gapped:
        hours: dict[str, list[datetime]] = {}
        rows = conn.execute(
            sa.select(_h.check_uuid, _h.hour).where(*where, _h.check_uuid.in_(gapped))
        )
        for uuid, hour in rows:
            hours.setdefault(uuid, []).append(hour)
        found = [
            replace(k, runs=hour_runs(hours[k.check_uuid])) if k.check_uuid in hours else k
            for k in found
        ]
    return found


def keep_hours(conn: Connection, backend: Backend, figures: Sequence[HourFigures]) -> None:
    """``Store.keep_check_hours``: an hour kept already (a concurrent report) stays as it is."""
    if not figures:
        return
    rows = [
        {
            "check_uuid": f.check_uuid,
            "hour": f.hour,
            **{column: f.seconds.get(status, 0.0) for status, column in _COLUMNS.items()},
        }
        for f in figures
    ]
    conn.execute(backend.insert(check_hours).on_conflict_do_nothing(), rows)

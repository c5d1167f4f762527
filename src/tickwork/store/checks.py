"""Heartbeat checks in SQL (Core, both dialects): checks by UUID or name, a ping applied under
the check's row lock with the ping stored and the oldest pruned, the configuration's checks
synced. The column lists and mappers are derived from the tables and domain types
(``TableMap``), like those of ``store.rows``."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from tickwork.domain.checks import (
    FINISHES,
    KEEP_PINGS,
    Check,
    CheckSource,
    CheckSpec,
    Ping,
    PingKind,
    check_uuid,
    receive,
)
from tickwork.errors import ConflictError
from tickwork.store.backend import Backend
from tickwork.store.checking import CheckSyncReport, PingWrite, RecordedPing
from tickwork.store.rows import TableMap, columns
from tickwork.store.schema_alerting import check_hours, check_pings, checks

CHECKS = TableMap(
    checks,
    Check,
    {
        "tags": tuple,
        "source": CheckSource,
        "last_ping_kind": PingKind,
        "last_outcome": PingKind,
    },
)
PINGS = TableMap(check_pings, Ping, {"kind": PingKind})


def check_values(check: Check) -> dict[str, Any]:
    """A check's row (every column)."""
    values = {name: getattr(check, name) for name in CHECKS.columns}
    values["tags"] = list(check.tags)
    for name in ("source", "last_ping_kind", "last_outcome"):
        value = values[name]
        values[name] = None if value is None else value.value
    return values


def _select(backend: Backend | None = None) -> Any:
    stmt = sa.select(*columns(CHECKS))
    return stmt.with_for_update() if backend is not None and backend.lock_rows else stmt


def _by_key(key: str) -> Any:
    as_uuid = check_uuid(key)
    c = checks.c
    return c.uuid == as_uuid if as_uuid is not None else c.name == key


def list_all(conn: Connection) -> list[Check]:
    build = CHECKS.mapper()
    return [build(row) for row in conn.execute(_select().order_by(checks.c.name))]


def get(conn: Connection, key: str) -> Check | None:
    row = conn.execute(_select().where(_by_key(key))).first()
    return None if row is None else CHECKS.mapper()(row)


def create(conn: Connection, backend: Backend, check: Check) -> Check | None:
    stmt = backend.insert(checks).values(**check_values(check)).on_conflict_do_nothing()
    if conn.execute(stmt.returning(checks.c.uuid)).first() is None:
        return None
    return check


def update(conn: Connection, backend: Backend, uuid: str, spec: CheckSpec) -> Check | None:
    row = conn.execute(_select(backend).where(checks.c.uuid == uuid)).first()
    if row is None:
        return None
    taken = conn.execute(
        sa.select(checks.c.uuid).where(checks.c.name == spec.name, checks.c.uuid != uuid)
    ).first()
    if taken is not None:
        raise ConflictError(f"a check named {spec.name!r} exists")
    changed = CHECKS.mapper()(row).with_spec(spec)
    conn.execute(sa.update(checks).where(checks.c.uuid == uuid).values(**check_values(changed)))
    return changed


def pause(conn: Connection, uuid: str, paused_at: datetime | None) -> Check | None:
    found = conn.execute(
        sa.update(checks)
        .where(checks.c.uuid == uuid)
        .values(paused_at=paused_at)
        .returning(*columns(CHECKS))
    ).first()
    return None if found is None else CHECKS.mapper()(found)


def delete(conn: Connection, uuid: str) -> Check | None:
    found = get(conn, uuid)
    if found is not None:
        conn.execute(sa.delete(check_pings).where(check_pings.c.check_uuid == uuid))
        conn.execute(sa.delete(check_hours).where(check_hours.c.check_uuid == uuid))
        conn.execute(sa.delete(checks).where(checks.c.uuid == uuid))
    return found


def record_ping(conn: Connection, backend: Backend, write: PingWrite) -> RecordedPing | None:
    """``Store.record_ping``: the check's row locked (SQLite: the write lock), the ping applied
    by ``receive``, the row and the ping written, the pings beyond ``KEEP_PINGS`` deleted."""
    c = checks.c
    where = c.uuid == write.uuid if write.uuid is not None else c.name == write.name
    row = conn.execute(_select(backend).where(where)).first()
    if row is None and write.create is not None:
        create(conn, backend, write.create)  # a racing ping may have made it: read it again
        row = conn.execute(_select(backend).where(c.name == write.create.name)).first()
    if row is None:
        return None
    check = CHECKS.mapper()(row)
    ping = write.ping
    rid_started_at = None
    if ping.kind in FINISHES and ping.rid is not None and ping.rid != check.start_rid:
        p = check_pings.c
        rid_started_at = conn.execute(
            sa.select(p.at)
            .where(p.check_uuid == check.uuid, p.kind == PingKind.START.value, p.rid == ping.rid)
            .order_by(p.id.desc())
            .limit(1)
        ).scalar()
    result = receive(check, ping, rid_started_at)
    conn.execute(sa.update(checks).where(c.uuid == check.uuid).values(**check_values(result.check)))
    stored = Ping(
        id=0,
        check_uuid=check.uuid,
        kind=ping.kind,
        at=ping.at,
        exit_status=ping.exit_status,
        rid=ping.rid,
        method=ping.method,
        remote_addr=ping.remote_addr,
        user_agent=ping.user_agent,
        body=ping.body,
        body_bytes=ping.body_bytes,
        duration_seconds=result.duration_seconds,
    )
    values = {name: getattr(stored, name) for name in PINGS.columns if name != "id"}
    values["kind"] = ping.kind.value
    ping_id = conn.execute(check_pings.insert().returning(check_pings.c.id), values).scalar_one()
    _prune(conn, check.uuid)
    return RecordedPing(check, result.check, dataclasses.replace(stored, id=int(ping_id)))


def _prune(conn: Connection, uuid: str) -> None:
    """Pings of the check beyond its newest ``KEEP_PINGS`` (a seek of the check's index)."""
    p = check_pings.c
    oldest_kept = conn.execute(
        sa.select(p.id)
        .where(p.check_uuid == uuid)
        .order_by(p.id.desc())
        .offset(KEEP_PINGS - 1)
        .limit(1)
    ).scalar()
    if oldest_kept is not None:
        conn.execute(sa.delete(check_pings).where(p.check_uuid == uuid, p.id < oldest_kept))


def pings(conn: Connection, uuid: str, limit: int, before_id: int | None) -> list[Ping]:
    p = check_pings.c
    stmt = sa.select(*columns(PINGS)).where(p.check_uuid == uuid)
    if before_id is not None:
        stmt = stmt.where(p.id < before_id)
    build = PINGS.mapper()
    return [build(row) for row in conn.execute(stmt.order_by(p.id.desc()).limit(limit))]


def sync(
    conn: Connection, backend: Backend, wanted: Sequence[Check], now: datetime
) -> CheckSyncReport:
    """``Store.sync_checks`` (the definitions' lock serialises syncs of several processes)."""
    backend.lock_definitions(conn, shared=False)
    existing = {check.name: check for check in list_all(conn)}
    created: list[str] = []
    updated: list[str] = []
    for check in wanted:
        old = existing.get(check.name)
        if old is None:
            create(conn, backend, check)
            created.append(check.name)
        elif old.spec != check.spec or old.source is not CheckSource.CONFIG:
            new = dataclasses.replace(old.with_spec(check.spec), source=CheckSource.CONFIG)
            conn.execute(
                sa.update(checks).where(checks.c.uuid == old.uuid).values(**check_values(new))
            )
            updated.append(check.name)
    names = {check.name for check in wanted}
    removed = [
        old.name
        for old in existing.values()
        if old.source is CheckSource.CONFIG and old.name not in names
    ]
    for name in removed:
        delete(conn, existing[name].uuid)
    return CheckSyncReport(tuple(created), tuple(updated), tuple(removed))

"""Processors in SQL (Core, both dialects): each process's registration and heartbeat."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from tickwork.domain.queries import ProcessorInfo
from tickwork.store.rows import PROCESSORS, columns
from tickwork.store.schema import processors

_from_row = PROCESSORS.mapper()


def heartbeat(conn: Connection, info: ProcessorInfo) -> None:
    """Insert or update a processor's row."""
    values = {
        "role": info.role,
        "host": info.host,
        "pid": info.pid,
        "version": info.version,
        "started_at": info.started_at,
        "heartbeat_at": info.heartbeat_at,
        "stopped_at": info.stopped_at,
    }
    updated = conn.execute(processors.update().where(processors.c.id == info.id).values(**values))
    if updated.rowcount == 0:
        conn.execute(processors.insert().values(id=info.id, **values))


def list_all(conn: Connection) -> list[ProcessorInfo]:
    query = sa.select(*columns(PROCESSORS)).order_by(processors.c.started_at.desc())
    return [_from_row(r) for r in conn.execute(query)]

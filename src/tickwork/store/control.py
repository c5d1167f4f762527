"""The run-time control in SQL (Core, both dialects): one row per setting."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from tickwork.domain.queries import ControlState
from tickwork.store.backend import Backend
from tickwork.store.rows import CONTROL_FIELDS, control_from_rows
from tickwork.store.schema import control


def get(conn: Connection) -> ControlState:
    return control_from_rows(conn.execute(sa.select(control)).mappings().all())


def put(conn: Connection, backend: Backend, state: ControlState) -> ControlState:
    """``Store.set_control``."""
    # Every field is written (a default as its value), so the state keeps who changed it last
    # even when that change was back to the defaults.
    now = state.updated_at
    if now is None:
        raise ValueError("set_control needs updated_at")
    insert = backend.insert(control)
    stmt = insert.on_conflict_do_update(
        index_elements=[control.c.name],
        set_={
            "value": insert.excluded.value,
            "updated_at": insert.excluded.updated_at,
            "updated_by": insert.excluded.updated_by,
        },
    )
    for name in CONTROL_FIELDS:
        conn.execute(
            stmt,
            {
                "name": name,
                "value": getattr(state, name),
                "updated_at": now,
                "updated_by": state.updated_by,
            },
        )
    return get(conn)

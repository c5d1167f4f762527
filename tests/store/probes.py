"""Looking at a store through its real paths, for tests: the schedules ``fire_due`` finds due."""

from __future__ import annotations

from datetime import datetime

from tickwork.domain.queries import DueSchedule, Fire
from tickwork.store.base import Store


async def due_schedules(store: Store, now: datetime, limit: int = 10) -> list[DueSchedule]:
    """The schedules due by ``now``, in the order ``fire_due`` plans them (earliest first, then
    by name); the probe's fires leave each schedule's next fire time as it was and create no
    job (only ``last_fire_at`` moves)."""
    seen: list[DueSchedule] = []

    def probe(due: DueSchedule) -> Fire:
        seen.append(due)
        return Fire(due.task_name, due.next_fire_at, due.next_fire_at, None)

    await store.fire_due(now, limit, probe)
    return seen


async def due_names(store: Store, now: datetime, limit: int = 10) -> list[str]:
    return [d.task_name for d in await due_schedules(store, now, limit)]

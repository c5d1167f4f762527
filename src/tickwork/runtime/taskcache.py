"""A short-lived cache of task definitions so workers do not read them once per job."""

from __future__ import annotations

import time

from tickwork.domain.tasks import TaskDefinition
from tickwork.store.base import Store

DEFAULT_TASK_CACHE_SECONDS = 2.0


class TaskCache:
    """Definitions by name, re-read from the store when older than ``ttl_seconds``.

    Edits made through the CLI or API reach running workers within the TTL.
    """

    def __init__(self, store: Store, ttl_seconds: float = DEFAULT_TASK_CACHE_SECONDS) -> None:
        self._store = store
        self._ttl = ttl_seconds
        self._tasks: dict[str, tuple[float, TaskDefinition | None]] = {}

    async def get(self, name: str) -> TaskDefinition | None:
        now = time.monotonic()
        hit = self._tasks.get(name)
        if hit is not None and now - hit[0] < self._ttl:
            return hit[1]
        task = await self._store.get_task(name)
        defn = task.definition if task else None
        self._tasks[name] = (now, defn)
        return defn

    def put(self, defn: TaskDefinition) -> None:
        self._tasks[defn.name] = (time.monotonic(), defn)

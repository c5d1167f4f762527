"""A short-lived cache of task definitions so workers do not read them once per job."""

from __future__ import annotations

import time
from collections.abc import Iterable

from tickwork.domain.tasks import TaskDefinition
from tickwork.store.base import RuntimeStore

DEFAULT_TASK_CACHE_SECONDS = 5.0


class TaskCache:
    """Definitions by name, re-read from the store when older than ``ttl_seconds``.

    Edits made through the CLI or API reach running workers within the TTL. Workers call
    ``load`` with the names of a whole claimed batch, so a cold or stale cache costs one query
    per batch, not one per job. Names without a task are not cached: one that another
    process's start-up sync (or a producer) creates is found at the next look.
    """

    def __init__(
        self, store: RuntimeStore, ttl_seconds: float = DEFAULT_TASK_CACHE_SECONDS
    ) -> None:
        self._store = store
        self._ttl = ttl_seconds
        self._tasks: dict[str, tuple[float, TaskDefinition]] = {}

    def _fresh(self, name: str, now: float) -> bool:
        hit = self._tasks.get(name)
        return hit is not None and now - hit[0] < self._ttl

    async def load(self, names: Iterable[str]) -> None:
        """Make sure the definitions of ``names`` are cached and fresh."""
        now = time.monotonic()
        stale = {n for n in names if not self._fresh(n, now)}
        if not stale:
            return
        found = {t.name: t.definition for t in await self._store.get_tasks(sorted(stale))}
        for name in stale:
            defn = found.get(name)
            if defn is None:
                self._tasks.pop(name, None)
            else:
                self._tasks[name] = (now, defn)

    async def get(self, name: str) -> TaskDefinition | None:
        if not self._fresh(name, time.monotonic()):
            await self.load([name])
        hit = self._tasks.get(name)
        return None if hit is None else hit[1]

    def put(self, defn: TaskDefinition) -> None:
        self._tasks[defn.name] = (time.monotonic(), defn)

"""The releaser: in the scheduler role, creates the jobs of downstream tasks (``after``) from the
final runs of their upstreams, read after a durable cursor (``Store.release_dependents``)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from tickwork.clock import Clock, SystemClock
from tickwork.domain.dependencies import DependencyGraph, ReleasePass
from tickwork.domain.jobs import NewJob, TriggeredBy
from tickwork.domain.tasks import Task
from tickwork.runtime.backoff import StoreRetry
from tickwork.runtime.loop import BackgroundLoop, repeating
from tickwork.store.base import RuntimeStore

log = logging.getLogger("tickwork.releaser")

# A pass reads the runs finished since the last one: a downstream job is released at most this
# long after its upstream's run was recorded (then a worker is woken for it).
DEFAULT_RELEASE_INTERVAL_SECONDS = 1.0
# Without any dependency defined, a pass only moves the cursor on (so that a dependency defined
# later does not release for old runs): this often.
IDLE_INTERVAL_SECONDS = 60.0
# PostgreSQL commits runs out of ID order (IDs are taken in concurrent transactions): the
# cursor moves only over IDs seen at least this long ago, when every transaction that had
# taken a lower ID has ended. Runs above the cursor are read again meanwhile; this process
# skips those it handled, and the store's once-per-(task, run) rule covers the others.
DEFAULT_SETTLE_SECONDS = 30.0
# Definitions are read again this often (as the workers' task cache does).
DEFINITIONS_TTL_SECONDS = 5.0
RELEASE_BATCH = 500


def release_plan(tasks: list[Task], now: datetime) -> tuple[DependencyGraph, dict[str, NewJob]]:
    """The graph of the live tasks' ``after`` edges, and the job to release of each downstream
    task that may run now (enabled, not paused): its definition's arguments, priority and
    attempts."""
    live = [t for t in tasks if not t.removed]
    graph = DependencyGraph.of(
        {t.name: t.definition.policies.after for t in live if t.definition.policies.after}
    )
    templates: dict[str, NewJob] = {}
    for task in live:
        defn = task.definition
        if not defn.policies.after or not defn.enabled or task.paused(now):
            continue
        templates[task.name] = NewJob(
            task_name=task.name,
            scheduled_at=now,
            triggered_by=TriggeredBy.DEPENDENCY,
            max_attempts=defn.max_attempts,
            args=list(defn.args),
            kwargs=dict(defn.kwargs),
            priority=defn.priority,
        )
    return graph, templates


class Releaser:
    """Runs release passes every ``interval_seconds``; any number may run against one store
    (on PostgreSQL one pass at a time holds the cluster's lock, the others skip theirs)."""

    def __init__(
        self,
        store: RuntimeStore,
        *,
        clock: Clock | None = None,
        interval_seconds: float = DEFAULT_RELEASE_INTERVAL_SECONDS,
        settle_seconds: float | None = DEFAULT_SETTLE_SECONDS,
        on_released: Callable[[], None] | None = None,
    ) -> None:
        self.store = store
        self.clock = clock or SystemClock()
        self.interval_seconds = interval_seconds
        # None: no settling. SQLite needs none: its one writer makes runs visible in ID order.
        self.settle_seconds = settle_seconds
        self._on_released = on_released
        self.retry = StoreRetry(log)
        self._loop = BackgroundLoop("tickwork-releaser", repeating(self._pass, self.retry))
        self._plan: tuple[DependencyGraph, dict[str, NewJob]] | None = None
        self._plan_at: datetime | None = None
        self._seen: list[tuple[datetime, int]] = []  # (when, newest run ID then)
        self._handled: set[int] = set()  # run IDs above the cursor this process handled
        self._last_idle: datetime | None = None

    async def _release_plan(self, now: datetime) -> tuple[DependencyGraph, dict[str, NewJob]]:
        fresh = self._plan_at is not None and now - self._plan_at < timedelta(
            seconds=DEFINITIONS_TTL_SECONDS
        )
        if self._plan is None or not fresh:
            self._plan = release_plan(await self.store.list_tasks(include_removed=False), now)
            self._plan_at = now
        return self._plan

    def _settled(self, now: datetime) -> int | None:
        """The newest run ID the cursor may move to: one seen ``settle_seconds`` ago."""
        if self.settle_seconds is None or self.store.dialect == "sqlite":
            return None
        edge = now - timedelta(seconds=self.settle_seconds)
        old = [top for when, top in self._seen if when <= edge]
        if old:  # keep the newest old one and the younger ones
            self._seen = [(w, t) for w, t in self._seen if w > edge or t == old[-1]]
        return old[-1] if old else 0

    async def run_once(self, *, force: bool = False) -> ReleasePass | None:
        """One pass (while no dependency is defined, one per ``IDLE_INTERVAL_SECONDS`` unless
        ``force``); None when skipped or another process held the pass."""
        now = self.clock.now()
        graph, templates = await self._release_plan(now)
        if not graph.edges and not force:
            if self._last_idle is not None and now - self._last_idle < timedelta(
                seconds=IDLE_INTERVAL_SECONDS
            ):
                return None
            self._last_idle = now
        result = await self.store.release_dependents(
            graph,
            templates,
            now,
            settled=self._settled(now),
            skip=frozenset(self._handled),
            limit=RELEASE_BATCH,
        )
        if result is None:
            return None
        self._seen.append((now, result.top))
        self._handled = {i for i in (*self._handled, *result.read) if i > result.cursor}
        if result.released:
            log.info("released %d job(s) after their upstreams", len(result.released))
            if self._on_released is not None:
                self._on_released()
        return result

    async def start(self) -> None:
        self._loop.start()

    async def stop(self) -> None:
        await self._loop.stop()

    async def _pass(self) -> float:
        result = await self.run_once()
        if result is not None and len(result.read) >= RELEASE_BATCH:
            return 0.0  # more to read (the runs read are skipped next time)
        return self.interval_seconds

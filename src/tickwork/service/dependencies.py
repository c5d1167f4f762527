"""The dependencies of the live definitions as a graph to show: each job's upstream jobs (its
``after`` entries and ``requires``) and downstream jobs, and the columns of a drawing; kept a
few seconds per process (``DependencyCache``), as every job page shows them."""

from __future__ import annotations

import time
from dataclasses import dataclass

from tickwork.domain.dependencies import (
    After,
    DependencyGraph,
    Requirement,
    UpstreamOn,
    depth_of,
)
from tickwork.domain.tasks import Task
from tickwork.store.base import TaskReads

# How long a process shows the dependencies it read (changes made in it clear them at once).
DEPENDENCY_CACHE_SECONDS = 5.0


@dataclass(frozen=True)
class Link:
    """One dependency between two jobs: ``after`` (``on``: which end releases) or
    ``requires`` (``since``: the window a fire checks)."""

    upstream: str
    downstream: str
    kind: str  # "after" or "requires"
    on: UpstreamOn
    since: str | None = None

    @property
    def label(self) -> str:
        if self.kind == "requires":
            return f"requires {self.on.verb} since {self.since}"
        return f"after {self.on.verb}" if self.on is not UpstreamOn.SUCCESS else "after"


@dataclass(frozen=True)
class DependencyView:
    """Every link among the live definitions, and each job's column (its longest chain of
    upstreams)."""

    links: tuple[Link, ...]
    columns: dict[str, int]

    def upstream_of(self, name: str) -> list[Link]:
        return [link for link in self.links if link.downstream == name]

    def downstream_of(self, name: str) -> list[Link]:
        return [link for link in self.links if link.upstream == name]


def dependency_view(tasks: list[Task]) -> DependencyView:
    """The view of ``tasks``' dependencies (removed ones left out)."""
    links: list[Link] = []
    for task in sorted((t for t in tasks if not t.removed), key=lambda t: t.name):
        policies = task.definition.policies
        links += [Link(a.job, task.name, "after", a.on) for a in policies.after]
        links += [_required(r, task.name) for r in policies.requires]
    # Columns from both kinds: a required job is drawn left of the job that checks it.
    graph = DependencyGraph.of(
        {
            name: [After(link.upstream, link.on) for link in links if link.downstream == name]
            for name in {link.downstream for link in links}
        }
    )
    return DependencyView(tuple(links), depth_of(graph))


def _required(req: Requirement, downstream: str) -> Link:
    return Link(req.job, downstream, "requires", req.on, req.since)


class DependencyCache:
    """The view of the live definitions, read again when older than ``ttl_seconds`` or after
    ``clear`` (a definition changed in this process): a job page does not read every
    definition each time."""

    def __init__(self, store: TaskReads, ttl_seconds: float = DEPENDENCY_CACHE_SECONDS) -> None:
        self._store = store
        self._ttl = ttl_seconds
        self._view: tuple[float, DependencyView] | None = None

    async def view(self) -> DependencyView:
        now = time.monotonic()
        if self._view is not None and now - self._view[0] < self._ttl:
            return self._view[1]
        view = dependency_view(await self._store.list_tasks(include_removed=False))
        self._view = (now, view)
        return view

    def clear(self) -> None:
        self._view = None

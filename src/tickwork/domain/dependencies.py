"""Job dependencies: which finished runs of an upstream release a downstream job (``after``),
which conditions a scheduled fire checks first (``requires``), the graph of them and its cycles."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo

from tickwork.domain.durations import parse_duration
from tickwork.errors import ConfigError

_CLOCK_TIME = re.compile(r"([01]?\d|2[0-3]):([0-5]\d)")


class UpstreamOn(StrEnum):
    """Which end of an upstream's job counts: it succeeded, it failed (failed or timed out), or
    it finished in any way (succeeded, failed, timed out or cancelled)."""

    SUCCESS = "success"
    FAILED = "failed"
    FINISHED = "finished"

    @property
    def statuses(self) -> tuple[str, ...]:
        """The final run statuses (``RunStatus`` values) that count."""
        return _STATUSES[self]

    @property
    def verb(self) -> str:
        return {"success": "succeeded", "failed": "failed", "finished": "finished"}[self.value]


_STATUSES = {
    UpstreamOn.SUCCESS: ("succeeded",),
    UpstreamOn.FAILED: ("failed", "timeout"),
    UpstreamOn.FINISHED: ("succeeded", "failed", "timeout", "cancelled"),
}


@dataclass(frozen=True)
class After:
    """Run this job after each final end of ``job`` that ``on`` counts."""

    job: str
    on: UpstreamOn = UpstreamOn.SUCCESS

    def to_dict(self) -> dict[str, Any]:
        return {"job": self.job, "on": self.on.value}


@dataclass(frozen=True)
class Requirement:
    """A scheduled fire runs only if ``job`` ended as ``on`` counts since ``since``: a clock
    time (``"08:00"``, the latest one at or before the fire, in the job's timezone) or a
    duration back from the fire (``"30m"``)."""

    job: str
    since: str
    on: UpstreamOn = UpstreamOn.SUCCESS

    def __post_init__(self) -> None:
        if _CLOCK_TIME.fullmatch(self.since) is None:
            try:
                parse_duration(self.since, field="requires.since")
            except ConfigError:
                raise ConfigError(
                    f"invalid since {self.since!r}: expected a clock time like '08:00' or a"
                    " duration like '30m'",
                    field="requires",
                ) from None

    def window_start(self, fire_at: datetime, timezone: str) -> datetime:
        """Where the window of a fire at ``fire_at`` starts (UTC)."""
        match = _CLOCK_TIME.fullmatch(self.since)
        if match is None:
            seconds = parse_duration(self.since, field="requires.since")
            return fire_at.astimezone(UTC) - timedelta(seconds=seconds)
        local = fire_at.astimezone(ZoneInfo(timezone))
        at = time(int(match.group(1)), int(match.group(2)))
        start = datetime.combine(local.date(), at, tzinfo=local.tzinfo)
        if start > local:
            start = datetime.combine(local.date() - timedelta(days=1), at, tzinfo=local.tzinfo)
        return start.astimezone(UTC)

    def describe(self) -> str:
        """``extract succeeded since 08:00`` (for the missed fire's text)."""
        return f"{self.job} {self.on.verb} since {self.since}"

    def to_dict(self) -> dict[str, Any]:
        return {"job": self.job, "since": self.since, "on": self.on.value}


def _on(value: object, field: str) -> UpstreamOn:
    if value is None:
        return UpstreamOn.SUCCESS
    try:
        return UpstreamOn(str(value).strip().lower())
    except ValueError:
        allowed = ", ".join(member.value for member in UpstreamOn)
        raise ConfigError(f"unknown on {value!r} (allowed: {allowed})", field=field) from None


def _entries(value: object, field: str) -> list[object]:
    if isinstance(value, str | dict):
        return [value]
    if not isinstance(value, list | tuple):
        raise ConfigError(
            f"expected a list of job names or tables, got {type(value).__name__}", field=field
        )
    return list(value)


def parse_after(value: object) -> tuple[After, ...]:
    """``after``: ``"extract"``, ``["a", "b"]`` or ``[{job = "a", on = "failed"}]``."""
    out: list[After] = []
    for entry in _entries(value, "after"):
        if isinstance(entry, str):
            out.append(After(entry.strip()))
            continue
        if isinstance(entry, After):
            out.append(entry)
            continue
        if not isinstance(entry, dict) or not isinstance(entry.get("job"), str):
            raise ConfigError(f"expected a job name or {{job, on}}, got {entry!r}", field="after")
        unknown = sorted(set(entry) - {"job", "on"})
        if unknown:
            raise ConfigError(f"unknown key {unknown[0]!r} (allowed: job, on)", field="after")
        out.append(After(entry["job"].strip(), _on(entry.get("on"), "after")))
    _check_unique([a.job for a in out], "after")
    return tuple(out)


def parse_requires(value: object) -> tuple[Requirement, ...]:
    """``requires``: ``[{job = "extract", since = "08:00", on = "success"}]``."""
    out: list[Requirement] = []
    for entry in _entries(value, "requires"):
        if isinstance(entry, Requirement):
            out.append(entry)
            continue
        if (
            not isinstance(entry, dict)
            or not isinstance(entry.get("job"), str)
            or not isinstance(entry.get("since"), str)
        ):
            raise ConfigError(
                f"expected a table {{job, since[, on]}}, got {entry!r}", field="requires"
            )
        unknown = sorted(set(entry) - {"job", "since", "on"})
        if unknown:
            raise ConfigError(
                f"unknown key {unknown[0]!r} (allowed: job, since, on)", field="requires"
            )
        out.append(
            Requirement(
                entry["job"].strip(), entry["since"].strip(), _on(entry.get("on"), "requires")
            )
        )
    return tuple(out)


def _check_unique(names: Sequence[str], field: str) -> None:
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise ConfigError(f"{name!r} named twice", field=field)
        seen.add(name)


@dataclass(frozen=True)
class Edge:
    """``downstream`` runs after ``upstream`` ends as ``on`` counts."""

    upstream: str
    downstream: str
    on: UpstreamOn


@dataclass(frozen=True)
class DependencyGraph:
    """Every ``after`` edge of a set of definitions (``requires`` are checks, not edges)."""

    edges: tuple[Edge, ...] = ()

    @classmethod
    def of(cls, afters: Mapping[str, Iterable[After]]) -> DependencyGraph:
        """The graph of each downstream job's ``after`` entries."""
        edges = [
            Edge(a.job, name, a.on) for name, entries in sorted(afters.items()) for a in entries
        ]
        return cls(tuple(edges))

    @property
    def upstreams(self) -> tuple[str, ...]:
        """Every job some other job runs after, sorted."""
        return tuple(sorted({e.upstream for e in self.edges}))

    def downstream_of(self, upstream: str) -> tuple[Edge, ...]:
        return tuple(e for e in self.edges if e.upstream == upstream)

    def upstream_of(self, downstream: str) -> tuple[Edge, ...]:
        return tuple(e for e in self.edges if e.downstream == downstream)

    def names(self) -> tuple[str, ...]:
        return tuple(sorted({e.upstream for e in self.edges} | {e.downstream for e in self.edges}))

    def cycle(self) -> tuple[str, ...] | None:
        """A cycle as its jobs in order, the first repeated at the end (``a → b → a``), or
        None. Deterministic: the names are walked in sorted order."""
        children: dict[str, list[str]] = {}
        for e in self.edges:
            children.setdefault(e.upstream, []).append(e.downstream)
        done: set[str] = set()
        for root in sorted(children):
            if root in done:
                continue
            path: list[str] = [root]
            on_path = {root}
            stack = [iter(sorted(children.get(root, ())))]
            while stack:
                nxt = next(stack[-1], None)
                if nxt is None:
                    stack.pop()
                    on_path.discard(path[-1])
                    done.add(path.pop())
                    continue
                if nxt in on_path:
                    return (*path[path.index(nxt) :], nxt)
                if nxt in done:
                    continue
                path.append(nxt)
                on_path.add(nxt)
                stack.append(iter(sorted(children.get(nxt, ()))))
        return None


@dataclass(frozen=True)
class ReleasePass:
    """What one pass did: the runs it read (IDs, for the caller to skip while they are above
    the cursor), the jobs it released, the cursor after it and the newest run ID it saw."""

    read: tuple[int, ...]
    released: tuple[int, ...]
    cursor: int
    top: int


def cycle_text(cycle: Sequence[str]) -> str:
    return " → ".join(cycle)


def depth_of(graph: DependencyGraph) -> dict[str, int]:
    """Each job's longest distance from a job without upstreams (the graph's columns); the
    graph has no cycle."""
    depth: dict[str, int] = {}
    names = graph.names()
    parents = {n: [e.upstream for e in graph.upstream_of(n)] for n in names}

    def of(name: str, seen: frozenset[str]) -> int:
        if name in depth:
            return depth[name]
        if name in seen:  # a cycle after all: stop here
            return 0
        value = max((of(p, seen | {name}) + 1 for p in parents[name]), default=0)
        depth[name] = value
        return value

    for name in names:
        of(name, frozenset())
    return depth

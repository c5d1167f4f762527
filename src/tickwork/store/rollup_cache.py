"""Sums of rollup rows, cached per process by UTC day and checked against each day's run count.

The analytics sum the same rows of past days again and again: a dashboard showing the last week
re-reads six days that no longer change. Rollup rows only ever grow, and every finished run adds
to its day's series row in the same transaction as its other rollup rows, so the runs a day
counts (the sum of its series day rows, for the tasks asked) change whenever anything read of
that day may have: they are the day's version. A read splits its range at UTC midnights, sums
the days before the last one in one statement and the last day in another, and keeps each sum
with the versions of the days it covers; the next read reuses a sum while those versions hold.
A late run (one that started on a past day) changes that day's version, and the next read sums
those days again. The versions are read before the sums, so a sum is never older than the
versions kept with it. Rows removed by retention leave a day's version alone (day series rows
stay): a cached sum may still show them, as reads did before they went.
"""

from __future__ import annotations

import operator
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from tickwork.domain.stats import DAY, bucket_start
from tickwork.store.schema import series_rollups

Span = tuple[int, datetime, datetime]  # rows of a period whose bucket starts in [from, to)
Sums = dict[tuple[Any, ...], tuple[Any, ...]]  # group → summed values
# Sums kept per process: three per part of a range (the range, its days before the last one,
# its last day), each at most the groups of the range's tasks.
ENTRIES = 96


def first_of(a: Any, b: Any) -> Any:
    """Combines samples as SQL's ``max`` does: the larger, NULLs ignored."""
    return b if a is None else a if b is None else max(a, b)


def plus(a: Any, b: Any) -> Any:
    return a + b


@dataclass(frozen=True)
class Part:
    """One grouped sum of a rollup table: ``statement(where)`` selects its ``groups`` leading
    columns and value columns, grouped by the former; ``combine`` adds two values of each
    value column (``plus`` or ``first_of``), so sums of days add up as one sum would. Rows
    made by ``build`` are shared by the reads that find them cached: never changed."""

    name: str
    groups: int
    combine: tuple[Callable[[Any, Any], Any], ...]
    statement: Callable[[list[Any]], sa.Select[Any]]
    build: Callable[[Sums], list[Any]]  # the rows the read returns, of the summed groups


class RollupCache:
    """Sums by key, each with the versions it was read at; least recently used go first."""

    def __init__(self, entries: int = ENTRIES) -> None:
        self.entries = entries
        self._sums: OrderedDict[Hashable, tuple[Hashable, Any]] = OrderedDict()
        self._lock = threading.Lock()  # reads run on several store threads

    def get(self, key: Hashable, version: Hashable) -> Any:
        with self._lock:
            found = self._sums.get(key)
            if found is None or found[0] != version:
                return None
            self._sums.move_to_end(key)
            return found[1]

    def put(self, key: Hashable, version: Hashable, sums: Any) -> None:
        if self.entries <= 0:
            return
        with self._lock:
            self._sums[key] = (version, sums)
            self._sums.move_to_end(key)
            while len(self._sums) > self.entries:
                self._sums.popitem(last=False)


def day_versions(
    conn: Connection, tasks: tuple[str, ...] | None, first: datetime, end: datetime
) -> dict[datetime, int]:
    """Runs per UTC day from ``first``'s day to ``end`` (exclusive), of ``tasks`` (None: all):
    the days' versions. Day series rows, in key order: a few rows per task and day."""
    s = series_rollups.c
    where = [
        s.period_seconds == DAY,
        s.bucket_start >= bucket_start(first, DAY),
        s.bucket_start < end,
    ]
    if tasks is not None:
        where.append(s.task_name.in_(tasks))
    stmt = sa.select(s.bucket_start, sa.func.sum(s.count)).where(*where).group_by(s.bucket_start)
    return {day: int(n) for day, n in conn.execute(stmt)}


def by_day(spans: Sequence[Span]) -> list[list[Span]]:
    """``spans`` cut at UTC midnights, grouped by day, oldest first."""
    days: dict[datetime, list[Span]] = {}
    step = timedelta(seconds=DAY)
    for period, lo, hi in spans:
        at = lo
        while at < hi:
            day = bucket_start(at, DAY)
            cut = min(hi, day + step)
            days.setdefault(day, []).append((period, at, cut))
            at = cut
    return [days[d] for d in sorted(days)]


def ceiling(when: datetime, period: int) -> datetime:
    """The first period start at or after ``when``: a span of rows of ``period`` ending there
    holds the same rows as one ending at ``when`` (rows start on period starts), so a range
    ending "now" keeps its keys until the period turns."""
    if period <= 0:
        return when
    return bucket_start(when - timedelta(microseconds=1), period) + timedelta(seconds=period)


def joined(spans: Sequence[Span]) -> list[Span]:
    """Adjacent spans of one period as one: fewer clauses in the statement."""
    out: list[Span] = []
    for period, lo, hi in spans:
        if out and out[-1][0] == period and out[-1][2] == lo:
            out[-1] = (period, out[-1][1], hi)
        else:
            out.append((period, lo, hi))
    return out


def _read(
    conn: Connection,
    part: Part,
    where: Callable[[Sequence[Span]], list[Any]],
    spans: Sequence[Span],
) -> Sums:
    g = part.groups
    rows = conn.execute(part.statement(where(spans))).all()
    return {tuple(row[:g]): tuple(row[g:]) for row in rows}


def _merge(into: Sums, sums: Sums, combine: tuple[Callable[[Any, Any], Any], ...]) -> None:
    summing = all(f is plus for f in combine)
    for group, values in sums.items():
        found = into.get(group)
        if found is None:
            into[group] = values
        elif summing:
            into[group] = tuple(map(operator.add, found, values))
        else:
            into[group] = tuple(f(a, b) for f, a, b in zip(combine, found, values, strict=True))


def summed(
    conn: Connection,
    cache: RollupCache | None,
    part: Part,
    spans: Sequence[Span],
    where: Callable[[Sequence[Span]], list[Any]],
    versions: Callable[[], dict[datetime, int]],
    scope: Hashable,
) -> list[Any]:
    """``part`` summed over ``spans`` (``where(spans)``: the statement's where-clauses), as
    ``part.build`` makes rows of it: the whole range, else the days before the last one and
    the last day, each from the cache while the versions of its days (``versions()``, read
    once per read) hold, else read and kept. ``scope``: what else the sums depend on."""
    if cache is None or cache.entries <= 0:
        return part.build(_read(conn, part, where, spans))
    days = by_day([(period, lo, ceiling(hi, period)) for period, lo, hi in spans])
    known = versions()

    def version(group: list[list[Span]]) -> tuple[int | None, ...]:
        return tuple(known.get(bucket_start(day[0][1], DAY)) for day in group)

    whole = ("rows", part.name, scope, tuple(span for day in days for span in day))
    found: list[Any] | None = cache.get(whole, version(days))
    if found is not None:
        return found
    out: Sums = {}
    for group in (days[:-1], days[-1:]):
        pieces = tuple(span for day in group for span in day)
        if not pieces:
            continue
        key = ("sums", part.name, scope, pieces)
        sums = cache.get(key, version(group))
        if sums is None:
            sums = _read(conn, part, where, joined(pieces))
            cache.put(key, version(group), sums)
        if out:
            _merge(out, sums, part.combine)
        else:
            out = dict(sums)
    rows = part.build(out)
    cache.put(whole, version(days), rows)
    return rows

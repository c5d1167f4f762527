"""Sums of rollup rows, cached per process by UTC day and hour, checked against run counts.

The analytics sum the same rows again and again: a dashboard showing the last week re-reads
six days that no longer change, and the hours of today that have passed. Rollup rows only ever
grow, and every finished run adds to its day's and its hour's series rows in the same
transaction as its other rollup rows, so the runs a day or an hour counts (the sum of its
series rows, for the tasks asked) change whenever anything read of it may have: they are its
version. A read cuts its range into pieces (``pieces``: the days before the last one, the last
day's hours before the one the range ends in, and that hour), and keeps each piece's sum with
the versions of the days or hours it covers; the next read reuses a sum while those versions
hold, so a read of a range ending now, while runs finish, reads again only the current hour's
rows. A late run (one that started in a past hour or day) changes that hour's or day's
version, from whichever process wrote it, and the next read sums that piece again. A read
first checks the rows it kept against the days' versions (``Known.days``); only if one
changed does it read the last day's version with its hours' (``Known.versions``, one
statement, so they agree). Versions are read before the sums they check, so a sum is never
older than the versions kept with it. Rows removed by retention leave a day's version alone
(day series rows stay): a cached sum may still show them, as reads did before they went; a
day whose hour rows retention has begun to remove no longer counts all its runs by the hour,
and its day rows are read. Of a part grouped by task, the last piece is kept per task with the
task's runs in it (``Known.per_task``): a read while a few tasks run reads again only theirs,
and hands the others' rows as the same tuples (``ByTask``), whose figures the domain keeps.
"""

from __future__ import annotations

import operator
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cached_property
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from tickwork.domain.stats import DAY, HOUR, ByTask, bucket_start
from tickwork.store.schema import series_rollups

Span = tuple[int, datetime, datetime]  # rows of a period whose bucket starts in [from, to)
Sums = dict[tuple[Any, ...], tuple[Any, ...]]  # group → summed values
# Sums kept per process: about seven per part of a range (its rows; its days before the last
# one, its last day's settled hours, both together; the hour it ends in, and of a part by task
# that hour's sums and rows per task), each at most the groups of the range's tasks.
ENTRIES = 224
_TICK = timedelta(microseconds=1)
_ONE_HOUR = timedelta(hours=1)
_ONE_DAY = timedelta(days=1)


def first_of(a: Any, b: Any) -> Any:
    """Combines samples as SQL's ``max`` does: the larger, NULLs ignored."""
    return b if a is None else a if b is None else max(a, b)


def plus(a: Any, b: Any) -> Any:
    return a + b


@dataclass(frozen=True)
class Part:
    """One grouped sum of a rollup table: ``statement(where)`` selects its ``groups`` leading
    columns and value columns, grouped by the former; ``combine`` adds two values of each
    value column (``plus`` or ``first_of``), so sums of days add up as one sum would. ``row``
    makes the row a read returns of one group and its values; rows are shared by the reads
    that find them cached: never changed.
    ``hours_for_days``: a day's hour rows sum to what its day row holds (groups without the
    bucket start, values all ``plus``: not samples), so they may be read in its place.
    ``task``: the task name column, when it is the first of the groups: the range's last piece
    is then summed and kept per task, and the rows come ``ByTask``."""

    name: str
    groups: int
    combine: tuple[Callable[[Any, Any], Any], ...]
    statement: Callable[[list[Any]], sa.Select[Any]]
    row: Callable[[tuple[Any, ...], tuple[Any, ...]], Any]
    hours_for_days: bool = False
    task: Any = None


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


@dataclass(frozen=True)
class Versions:
    """Runs per UTC day of a range, and per hour of its last day (``hours_of``), keyed by
    ``(DAY or HOUR, bucket start)``; a period without runs is absent."""

    runs: dict[tuple[int, datetime], int]
    hours_of: datetime

    @property
    def complete(self) -> bool:
        """The last day's hour rows count all of its runs (none taken by retention)."""
        day = self.runs.get((DAY, self.hours_of), 0)
        return sum(n for (p, _), n in self.runs.items() if p == HOUR) == day


class Known:
    """The versions one read checks its sums against, of ``tasks`` (None: all), each read once
    and before the sums it checks: the runs per UTC day from ``first``'s day to ``end``
    (``days``; a read whose sums are all kept needs no more), and, when some piece must be
    summed again, the runs of the range's last day and of each of its hours (``versions``, in
    one statement so that they agree). Series rows, in key order: a few per task and period."""

    def __init__(
        self, conn: Connection, tasks: tuple[str, ...] | None, first: datetime, end: datetime
    ) -> None:
        self._conn, self._tasks, self._first, self._end = conn, tasks, first, end
        self.last_day = bucket_start(end - _TICK, DAY)
        self._per_task: dict[tuple[tuple[int, datetime], ...], dict[str, int]] = {}

    def _runs(self, period: int, lo: datetime, hi: datetime) -> sa.Select[Any]:
        # Each a range of the primary key (an OR of two made SQLite walk the task index).
        s = series_rollups.c
        tasks_in = [] if self._tasks is None else [s.task_name.in_(self._tasks)]
        return (
            sa.select(s.period_seconds, s.bucket_start, sa.func.sum(s.count))
            .where(s.period_seconds == period, s.bucket_start >= lo, s.bucket_start < hi, *tasks_in)
            .group_by(s.period_seconds, s.bucket_start)
        )

    @cached_property
    def days(self) -> dict[datetime, int]:
        stmt = self._runs(DAY, bucket_start(self._first, DAY), self._end)
        return {start: int(n) for _, start, n in self._conn.execute(stmt)}

    def of(self, piece: Piece) -> tuple[int | None, ...]:
        """The versions ``piece`` is kept with: of days only, from ``days``."""
        if all(period == DAY for period, _ in piece.checks):
            return tuple(self.days.get(start) for _, start in piece.checks)
        return piece.version(self.versions)

    def per_task(self, piece: Piece) -> dict[str, int]:
        """Runs per task in the days or hours ``piece`` is checked by (its last piece's
        versions, task by task), read once per read and piece: series rows, a few per task."""
        found = self._per_task.get(piece.checks)
        if found is None:
            s = series_rollups.c
            [period] = {p for p, _ in piece.checks}  # a piece is checked by days or by hours
            starts = [start for _, start in piece.checks]
            tasks_in = [] if self._tasks is None else [s.task_name.in_(self._tasks)]
            # Summed here, not grouped in SQL: grouped by task, SQLite walks the task index.
            stmt = sa.select(s.task_name, s.count).where(
                s.period_seconds == period,
                s.bucket_start >= min(starts),
                s.bucket_start <= max(starts),
                *tasks_in,
            )
            found = {}
            for task, n in self._conn.execute(stmt):
                found[task] = found.get(task, 0) + int(n)
            self._per_task[piece.checks] = found
        return found

    @cached_property
    def versions(self) -> Versions:
        day, next_day = self.last_day, self.last_day + _ONE_DAY
        stmt = sa.union_all(self._runs(DAY, day, next_day), self._runs(HOUR, day, next_day))
        runs = {(DAY, start): n for start, n in self.days.items() if start != day}
        for period, start, n in self._conn.execute(stmt):
            runs[int(period), start] = int(n)
        return Versions(runs, day)


def by_day(spans: Sequence[Span]) -> list[list[Span]]:
    """``spans`` cut at UTC midnights, grouped by day, oldest first."""
    days: dict[datetime, list[Span]] = {}
    for period, lo, hi in spans:
        at = lo
        while at < hi:
            day = bucket_start(at, DAY)
            cut = min(hi, day + _ONE_DAY)
            days.setdefault(day, []).append((period, at, cut))
            at = cut
    return [days[d] for d in sorted(days)]


def ceiling(when: datetime, period: int) -> datetime:
    """The first period start at or after ``when``: a span of rows of ``period`` ending there
    holds the same rows as one ending at ``when`` (rows start on period starts), so a range
    ending "now" keeps its keys until the period turns."""
    if period <= 0:
        return when
    return bucket_start(when - _TICK, period) + timedelta(seconds=period)


def joined(spans: Sequence[Span]) -> list[Span]:
    """Adjacent spans of one period as one: fewer clauses in the statement."""
    out: list[Span] = []
    for period, lo, hi in spans:
        if out and out[-1][0] == period and out[-1][2] == lo:
            out[-1] = (period, out[-1][1], hi)
        else:
            out.append((period, lo, hi))
    return out


@dataclass(frozen=True)
class Piece:
    """A part of a range summed and kept on its own: its spans, and the days or hours whose
    versions (``Versions`` keys) it is kept with. ``grows``: the same piece an hour shorter
    and the spans of that hour, so the hour that has just settled is added to its sums."""

    spans: tuple[Span, ...]
    checks: tuple[tuple[int, datetime], ...]
    grows: tuple[Piece, tuple[Span, ...]] | None = None

    def version(self, known: Versions) -> tuple[int | None, ...]:
        return tuple(known.runs.get(check) for check in self.checks)


def _hours(spans: Sequence[Span]) -> tuple[tuple[int, datetime], ...]:
    """The hours ``spans`` (of hour or minute rows) cover, as ``Versions`` keys."""
    at = bucket_start(min(lo for _, lo, _ in spans), HOUR)
    end = ceiling(max(hi for _, _, hi in spans), HOUR)
    return tuple((HOUR, at + h * _ONE_HOUR) for h in range((end - at) // _ONE_HOUR))


def _settled(last: Sequence[Span], hour: datetime, grow: bool = True) -> Piece | None:
    """The last day's ``last`` spans (none of day rows) before ``hour``, and with ``grow``
    the same an hour shorter."""
    spans = tuple((p, lo, min(hi, hour)) for p, lo, hi in last if lo < hour)
    if not spans:
        return None
    before = hour - _ONE_HOUR
    shorter = _settled(last, before, grow=False) if grow else None
    added = tuple((p, max(lo, before), hi) for p, lo, hi in spans if hi > before)
    grows = None if shorter is None else (shorter, added)
    return Piece(spans, _hours(spans), grows)


def pieces(spans: Sequence[Span], versions: Callable[[], Versions], by_hours: bool) -> list[Piece]:
    """How a read of ``spans`` is summed and kept: the days before the last one, checked by
    their day versions; the last day's hours before the hour the range ends in (settled in a
    running system, where runs land in the current hour), checked by their hour versions;
    and the rest, checked by the versions of its hours, or of its day when it reads day rows
    or lies in that hour alone. Each span's end is rounded up to its period (``ceiling``).
    ``by_hours``: the part's sums of a day's hour rows equal those of its day row
    (``Part.hours_for_days``), so the last day's day rows are read as its hour rows, while
    these count every run of the day (retention may have taken hour rows; day rows stay).
    ``versions()`` is called only when the last day is cut by the hour."""
    end = max(hi for _, _, hi in spans)
    days = by_day([(period, lo, ceiling(hi, period)) for period, lo, hi in spans])
    out: list[Piece] = []
    if len(days) > 1:
        past = days[:-1]
        checks = tuple((DAY, bucket_start(day[0][1], DAY)) for day in past)
        out.append(Piece(tuple(span for day in past for span in day), checks))
    last = days[-1]
    day = bucket_start(last[0][1], DAY)
    hour = max(bucket_start(end - _TICK, HOUR), day)
    whole_day = Piece(tuple(last), ((DAY, day),))
    with_day_rows = any(p == DAY for p, _, _ in last)
    if (with_day_rows and not by_hours) or all(p != DAY and lo >= hour for p, lo, _ in last):
        return [*out, whole_day]  # day rows cannot be cut by the hour; or nothing settled
    known = versions()
    if known.hours_of != day or (with_day_rows and not known.complete):
        return [*out, whole_day]
    last = [(HOUR if p == DAY else p, lo, hi) for p, lo, hi in last]
    settled = _settled(last, hour)
    if settled is not None:
        out.append(settled)
    rest = tuple((p, max(lo, hour), hi) for p, lo, hi in last if hi > hour)
    return [*out, Piece(rest, _hours(rest))]


def _read(
    conn: Connection,
    part: Part,
    where: Callable[[Sequence[Span]], list[Any]],
    spans: Sequence[Span],
) -> Sums:
    g = part.groups
    rows = conn.execute(part.statement(where(joined(spans)))).all()
    return {tuple(row[:g]): tuple(row[g:]) for row in rows}


Values = tuple[Any, ...]


def adder(combine: tuple[Callable[[Any, Any], Any], ...]) -> Callable[[Values, Values], Values]:
    """Adds two groups' values as ``combine`` says (all ``plus``: one ``map``, the common case)."""
    if all(f is plus for f in combine):
        return lambda a, b: tuple(map(operator.add, a, b))
    return lambda a, b: tuple(f(x, y) for f, x, y in zip(combine, a, b, strict=True))


def _merge(into: Sums, sums: Sums, combine: tuple[Callable[[Any, Any], Any], ...]) -> None:
    add = adder(combine)
    for group, values in sums.items():
        found = into.get(group)
        into[group] = values if found is None else add(found, values)


def summed(
    conn: Connection,
    cache: RollupCache | None,
    part: Part,
    spans: Sequence[Span],
    where: Callable[[Sequence[Span]], list[Any]],
    known: Known,
    scope: Hashable,
) -> list[Any]:
    """``part`` summed over ``spans`` (``where(spans)``: the statement's where-clauses), as
    ``part.row`` makes rows of it: the range's rows kept while the versions of its days hold
    (``known.days``), else each of its ``pieces`` from the cache while the versions it was kept
    with hold (``known.versions``), else read and kept. The pieces before the last are also
    kept summed together, with their rows, so a read that sums the last piece again (the hour
    runs land in) makes rows only of the groups that piece has; of a part by task, only of the
    tasks whose runs in it changed (``_by_task``). ``scope``: what else the sums depend on."""
    if cache is None or cache.entries <= 0:
        return [part.row(g, v) for g, v in _read(conn, part, where, spans).items()]
    ceiled = tuple((period, lo, ceiling(hi, period)) for period, lo, hi in spans)
    whole = ("rows", part.name, scope, ceiled)
    days = known.days
    version = tuple(days.get(bucket_start(day[0][1], DAY)) for day in by_day(ceiled))
    found: list[Any] | None = cache.get(whole, version)
    if found is not None:
        return found
    *before, last = pieces(spans, lambda: known.versions, part.hours_for_days)
    settled: tuple[Sums, Any] = ({}, {})
    settled_key = ("settled", part.name, scope, tuple(piece.spans for piece in before))
    if before:
        settled_version = tuple(known.of(piece) for piece in before)
        kept = cache.get(settled_key, settled_version)
        if kept is None:
            sums: Sums = {}
            for piece in before:
                _merge(sums, _sums(conn, cache, part, where, known, scope, piece), part.combine)
            kept = (sums, _rows_of(part, sums))
            cache.put(settled_key, settled_version, kept)
        settled = kept
    out: list[Any]
    if part.task is not None:
        latest_by_task = _task_sums(conn, cache, part, where, known, scope, last)
        out = _by_task(cache, part, (*settled_key, last.spans), settled, latest_by_task)
    else:
        sums, rows = settled[0], dict(settled[1])
        latest = _sums(conn, cache, part, where, known, scope, last)
        add, row = adder(part.combine), part.row
        for group, values in latest.items():
            found_values = sums.get(group)
            rows[group] = row(group, values if found_values is None else add(found_values, values))
        out = list(rows.values())
    cache.put(whole, version, out)
    return out


def _rows_of(part: Part, sums: Sums) -> Any:
    """The rows of ``sums`` by group; of a part by task, per task: its rows by group and the
    same as one tuple (the chunk ``ByTask`` hands while they hold)."""
    if part.task is None:
        return {g: part.row(g, v) for g, v in sums.items()}
    tasks: dict[str, dict[tuple[Any, ...], Any]] = {}
    for g, v in sums.items():
        tasks.setdefault(g[0], {})[g] = part.row(g, v)
    return {t: (rows, tuple(rows.values())) for t, rows in tasks.items()}


def _task_sums(
    conn: Connection,
    cache: RollupCache,
    part: Part,
    where: Callable[[Sequence[Span]], list[Any]],
    known: Known,
    scope: Hashable,
    piece: Piece,
) -> dict[str, Sums]:
    """The last piece's sums per task, each kept with the task's runs in the days or hours the
    piece covers (``known.per_task``): only the tasks whose runs changed are read again (every
    run adds to its series rows in the transaction of its other rows)."""
    key = ("task sums", part.name, scope, piece.spans, piece.checks)
    counts = known.per_task(piece)
    kept: dict[str, tuple[int, Sums]] = cache.get(key, 0) or {}
    changed = [t for t, n in counts.items() if t not in kept or kept[t][0] != n]
    now = {t: kept[t] for t in counts if t in kept and t not in changed}
    if changed:
        narrowed = where
        if len(changed) < len(counts):
            task = part.task

            def narrowed(spans: Sequence[Span]) -> list[Any]:
                return [*where(spans), task.in_(changed)]

        split: dict[str, Sums] = {t: {} for t in changed}
        for g, v in _read(conn, part, narrowed, piece.spans).items():
            if g[0] in split:
                split[g[0]][g] = v
        for t in changed:
            now[t] = (counts[t], split[t])
    if changed or len(now) != len(kept):
        cache.put(key, 0, now)
    return {t: sums for t, (_, sums) in now.items() if sums}


def _by_task(
    cache: RollupCache,
    part: Part,
    key: tuple[Any, ...],
    settled: tuple[Sums, Any],
    latest: dict[str, Sums],
) -> ByTask[Any]:
    """The settled pieces' rows (``settled``: sums, and ``_rows_of`` per task) with the last
    piece's sums (``latest``) added, per task: a task whose last sums and settled rows are the
    same objects as at the read before gets the same chunk of rows again; only the others'
    rows are made."""
    sums, kept = settled
    made_before: dict[str, tuple[Any, Sums, tuple[Any, ...]]] = cache.get(key, 0) or {}
    made: dict[str, tuple[Any, Sums, tuple[Any, ...]]] = {}
    add, row = adder(part.combine), part.row
    chunks: list[tuple[Any, ...]] = []
    for task in sorted(kept.keys() | latest.keys()):
        rows, chunk = kept.get(task, ({}, ()))
        added = latest.get(task)
        if added is not None:
            found = made_before.get(task)
            if found is not None and found[0] is chunk and found[1] is added:
                merged_chunk = found[2]
            else:
                merged = dict(rows)
                for group, values in added.items():
                    found_values = sums.get(group)
                    merged[group] = row(
                        group, values if found_values is None else add(found_values, values)
                    )
                merged_chunk = tuple(merged.values())
            made[task] = (chunk, added, merged_chunk)
            chunk = merged_chunk
        chunks.append(chunk)
    cache.put(key, 0, made)
    return ByTask(chunks)


def _sums(
    conn: Connection,
    cache: RollupCache,
    part: Part,
    where: Callable[[Sequence[Span]], list[Any]],
    known: Known,
    scope: Hashable,
    piece: Piece,
) -> Sums:
    """One piece's sums: kept, else the piece an hour shorter kept and the hour added, else
    read."""
    key = ("sums", part.name, scope, piece.spans)
    found: Sums | None = cache.get(key, known.of(piece))
    if found is not None:
        return found
    sums: Sums | None = None
    if piece.grows is not None:
        shorter, added = piece.grows
        kept = cache.get(("sums", part.name, scope, shorter.spans), known.of(shorter))
        if kept is not None:
            sums = dict(kept)
            _merge(sums, _read(conn, part, where, added), part.combine)
    if sums is None:
        sums = _read(conn, part, where, piece.spans)
    cache.put(key, known.of(piece), sums)
    return sums

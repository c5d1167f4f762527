"""The cache of rollup sums by day and hour (``store/rollup_cache.py``), on both backends: a read
it serves equals a read of the tables, also after a run lands in the current hour, a late run
lands on a past day or in a settled hour of the last day through another store (another
process), the hour turns, or retention took the last day's hour rows."""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta

import sqlalchemy as sa

from tests.store.test_rollups_store import NOW, completion, make_job
from tickwork.domain.jobs import Completion, RunStatus
from tickwork.domain.stats import (
    ALL_PARTS,
    DAY,
    HOUR,
    HOURLY,
    MINUTE,
    RollupData,
    RollupQuery,
)
from tickwork.store import SqlStore, create_store
from tickwork.store import rollups as rollup_sql
from tickwork.store.rollup_cache import Piece, RollupCache, Versions, by_day, pieces
from tickwork.store.schema import error_rollups, key_rollups, rollups, series_rollups

MIDNIGHT = NOW.replace(hour=0)
PARTS = ALL_PARTS | {HOURLY}


def uncached(store: SqlStore, q: RollupQuery) -> RollupData:
    with store.engine.connect() as conn:
        return rollup_sql.read(conn, q, None)


def runs_of(data: RollupData) -> int:
    return sum(h.count for h in data.histograms if h.measure == "duration")


def same(a: RollupData, b: RollupData) -> bool:
    # Durations are whole seconds, so sums added in any order are exact.
    return (
        sorted(a.histograms) == sorted(b.histograms)
        and sorted(a.series) == sorted(b.series)
        and sorted(a.keys) == sorted(b.keys)
        and sorted(a.errors, key=repr) == sorted(b.errors, key=repr)
    )


async def test_cached_days_follow_late_runs_of_another_store(db_url: str) -> None:
    reader, writer = create_store(db_url), create_store(db_url)
    await reader.open()
    await writer.open()
    try:
        job = await make_job(writer, "a")
        runs = [
            completion(
                job,
                "a",
                MIDNIGHT - timedelta(days=d, hours=h),
                float(1 + (d + h) % 9),
                RunStatus.FAILED if (d + h) % 4 == 0 else RunStatus.SUCCEEDED,
                key="x" if h % 2 else "y",
                wait=float(h % 3),
            )
            for d in range(-1, 6)
            for h in range(0, 24, 5)
        ]
        await writer.complete(runs)
        queries = [
            RollupQuery(MIDNIGHT - timedelta(days=5), NOW, DAY, parts=PARTS),
            RollupQuery(MIDNIGHT - timedelta(days=2, hours=5), NOW, HOUR, parts=PARTS),
            RollupQuery(MIDNIGHT - timedelta(days=3), MIDNIGHT, DAY, tasks=("a",)),
        ]
        first = [await reader.read_rollups(q) for q in queries]
        for q, data in zip(queries, first, strict=True):
            assert same(data, uncached(reader, q))
            # Served from the cache: the very rows of the first read.
            assert (await reader.read_rollups(q)).histograms is data.histograms
        # A range ending a minute earlier, in the same hour, reads the same rows: still the
        # cached ones.
        earlier = RollupQuery(queries[0].start, NOW - timedelta(minutes=1), DAY, parts=PARTS)
        assert (await reader.read_rollups(earlier)).histograms is first[0].histograms
        # A run that started two days ago finishes now, through the other store.
        late = MIDNIGHT - timedelta(days=2) + timedelta(hours=7, minutes=3)
        await writer.complete(
            [completion(job, "a", late, 64.0, RunStatus.TIMEOUT, key="z", message="slow")]
        )
        for q, before in zip(queries, first, strict=True):
            after = await reader.read_rollups(q)
            assert same(after, uncached(reader, q))
            assert runs_of(after) == runs_of(before) + 1
            assert any(k.key == "z" for k in after.keys)
        # As a running system: a run lands in the hour the ranges end in, then late runs land
        # in settled hours of their last days (today's and yesterday's), each through the
        # other store, each seen by the next read.
        landed = [
            NOW - timedelta(minutes=10),  # the current hour: all but the range ending at midnight
            MIDNIGHT + timedelta(hours=2, minutes=30),  # today, settled
            MIDNIGHT - timedelta(hours=21, minutes=50),  # yesterday (the last day of queries[2])
        ]
        for at in landed:
            before = [await reader.read_rollups(q) for q in queries]
            await writer.complete([completion(job, "a", at, 5.0, RunStatus.SUCCEEDED, key="w")])
            for q, earlier_data in zip(queries, before, strict=True):
                after = await reader.read_rollups(q)
                assert same(after, uncached(reader, q))
                counted = q.start <= at < q.end
                assert runs_of(after) == runs_of(earlier_data) + counted
    finally:
        await reader.close()
        await writer.close()


def test_cache_keeps_its_newest_entries() -> None:
    cache = RollupCache(entries=2)
    for n in range(3):
        cache.put(("k", n), 1, {(n,): (n,)})
    assert cache.get(("k", 0), 1) is None
    assert cache.get(("k", 1), 1) == {(1,): (1,)}
    assert cache.get(("k", 2), 2) is None  # another version: not this entry
    off = RollupCache(entries=0)
    off.put("k", 1, {})
    assert off.get("k", 1) is None


def test_spans_are_cut_at_midnight() -> None:
    start = MIDNIGHT - timedelta(hours=3)
    days = by_day([(HOUR, start, MIDNIGHT), (DAY, MIDNIGHT, NOW + timedelta(days=1))])
    assert days == [
        [(HOUR, start, MIDNIGHT)],
        [(DAY, MIDNIGHT, MIDNIGHT + timedelta(days=1))],
        [(DAY, MIDNIGHT + timedelta(days=1), NOW + timedelta(days=1))],
    ]
    assert by_day([(HOUR, start, start + timedelta(hours=1))]) == [
        [(HOUR, start, start + timedelta(hours=1))]
    ]


async def _complete(store: SqlStore, job: int, *at: datetime) -> None:
    runs: list[Completion] = [
        completion(job, "a", t, float(1 + i % 5), RunStatus.SUCCEEDED, key=f"k{i % 2}")
        for i, t in enumerate(at)
    ]
    await store.complete(runs)


async def test_hours_settle_as_the_hour_turns(db_url: str) -> None:
    """A read an hour later sums the hour that settled onto the hours kept before it."""
    reader, writer = create_store(db_url), create_store(db_url)
    await reader.open()
    await writer.open()
    try:
        job = await make_job(writer, "a")
        await _complete(writer, job, *(MIDNIGHT - timedelta(hours=h) for h in range(0, 60, 7)))
        for h in range(10, 15):  # ranges ending at 10:30, 11:30, ... while runs land
            now = MIDNIGHT + timedelta(hours=h, minutes=30)
            await _complete(writer, job, now - timedelta(minutes=20), now - timedelta(minutes=5))
            for q in (
                RollupQuery(MIDNIGHT - timedelta(days=3), now, DAY, parts=PARTS),
                RollupQuery(now - timedelta(hours=5), now, MINUTE, parts=PARTS),
                RollupQuery(now - timedelta(days=1), now, HOUR, parts=PARTS),
            ):
                data = await reader.read_rollups(q)
                assert same(data, uncached(reader, q))
                assert runs_of(data) > 0
    finally:
        await reader.close()
        await writer.close()


async def test_last_day_without_its_hour_rows_reads_its_day_rows(db_url: str) -> None:
    """Retention took the last day's hour rows (day rows stay): its day rows are read."""
    store = create_store(db_url)
    await store.open()
    try:
        job = await make_job(store, "a")
        await _complete(store, job, *(MIDNIGHT - timedelta(hours=h) for h in range(1, 50, 3)))
        q = RollupQuery(MIDNIGHT - timedelta(days=3), MIDNIGHT, DAY, parts=PARTS)
        with store.engine.begin() as conn:
            for table in (rollups, series_rollups, key_rollups, error_rollups):
                c = table.c
                conn.execute(
                    sa.delete(table).where(
                        c.period_seconds == HOUR, c.bucket_start < MIDNIGHT - timedelta(hours=7)
                    )
                )
        data = await store.read_rollups(q)
        assert same(data, uncached(store, q))
        assert runs_of(data) == 17
    finally:
        await store.close()


def test_pieces_of_a_range_ending_now() -> None:
    """Past days by their day versions; today's settled hours by theirs (growing from the same
    piece an hour shorter); the hour the range ends in, to the day's end for day rows."""
    start, now = MIDNIGHT - timedelta(days=3), NOW + timedelta(minutes=30)
    tomorrow = MIDNIGHT + timedelta(days=1)
    known = Versions({(DAY, MIDNIGHT): 3, (HOUR, MIDNIGHT): 1, (HOUR, NOW): 2}, MIDNIGHT)
    past, settled, current = pieces([(DAY, start, now)], lambda: known, by_hours=True)
    days = [start + timedelta(days=d) for d in range(4)]
    assert past == Piece(
        tuple((DAY, lo, hi) for lo, hi in itertools.pairwise(days)),
        tuple((DAY, day) for day in days[:3]),
    )
    assert settled.spans == ((HOUR, MIDNIGHT, NOW),)
    assert settled.checks == tuple((HOUR, MIDNIGHT + timedelta(hours=h)) for h in range(12))
    assert settled.grows is not None
    shorter, added = settled.grows
    assert shorter.spans == ((HOUR, MIDNIGHT, NOW - timedelta(hours=1)),)
    assert added == ((HOUR, NOW - timedelta(hours=1), NOW),)
    assert current.spans == ((HOUR, NOW, tomorrow),)
    assert current.version(known) == (2, *(None,) * 11)
    # Day rows of a part whose hour rows do not sum to them (samples, bucket starts), or of a
    # day whose hour rows do not count all its runs: the last day is one piece, by the day.
    for known_, by_hours in ((known, False), (Versions({(DAY, MIDNIGHT): 4}, MIDNIGHT), True)):
        *_, last = pieces([(DAY, start, now)], lambda k=known_: k, by_hours)
        assert last == Piece(((DAY, MIDNIGHT, tomorrow),), ((DAY, MIDNIGHT),))
    # Minute rows are cut at the hour, and checked by the hours they cover.
    _, current = pieces([(MINUTE, NOW - timedelta(hours=1), now)], lambda: known, by_hours=True)
    assert current == Piece(((MINUTE, NOW, now),), ((HOUR, NOW),))
    # A range within the hour it ends in has nothing settled: by the day, no hours read.
    [alone] = pieces([(MINUTE, NOW, now)], unread, by_hours=True)
    assert alone == Piece(((MINUTE, NOW, now),), ((DAY, MIDNIGHT),))
    # Nor are they for day rows a part cannot read as hour rows.
    *_, last = pieces([(DAY, start, now)], unread, by_hours=False)
    assert last == Piece(((DAY, MIDNIGHT, tomorrow),), ((DAY, MIDNIGHT),))


def unread() -> Versions:
    raise AssertionError("the hours' versions are not needed here")

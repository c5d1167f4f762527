"""The cache of past days' rollup sums (``store/rollup_cache.py``), on both backends: a read it
serves equals a read of the tables, also after a late run lands on a past day through another
store (another process)."""

from __future__ import annotations

from datetime import timedelta

from tests.store.test_rollups_store import NOW, completion, make_job
from tickwork.domain.jobs import RunStatus
from tickwork.domain.stats import ALL_PARTS, DAY, HOUR, HOURLY, RollupData, RollupQuery
from tickwork.store import SqlStore, create_store
from tickwork.store import rollups as rollup_sql
from tickwork.store.rollup_cache import RollupCache, by_day

MIDNIGHT = NOW.replace(hour=0)
PARTS = ALL_PARTS | {HOURLY}


def uncached(store: SqlStore, q: RollupQuery) -> RollupData:
    with store.engine.connect() as conn:
        return rollup_sql.read(conn, q, None)


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
        # A range ending a minute later reads the same day rows: still the cached ones.
        later = RollupQuery(queries[0].start, NOW + timedelta(minutes=1), DAY, parts=PARTS)
        assert (await reader.read_rollups(later)).histograms is first[0].histograms
        # A run that started two days ago finishes now, through the other store.
        late = MIDNIGHT - timedelta(days=2) + timedelta(hours=7, minutes=3)
        await writer.complete(
            [completion(job, "a", late, 64.0, RunStatus.TIMEOUT, key="z", message="slow")]
        )
        for q, before in zip(queries, first, strict=True):
            after = await reader.read_rollups(q)
            assert same(after, uncached(reader, q))
            runs_of = sum(h.count for h in after.histograms if h.measure == "duration")
            assert runs_of == sum(h.count for h in before.histograms if h.measure == "duration") + 1
            assert any(k.key == "z" for k in after.keys)
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

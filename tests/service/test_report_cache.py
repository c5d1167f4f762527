"""Reports kept with the rows they were made of (``service/stats.py``) and the insights made of
them, on both backends: the period before a range ending now is settled, so its report comes
back as the very same object while runs land now; a late run in it makes a new one; and every
report and insight equals that of a store without any cache, after each change."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import pytest

from tests.store.test_rollup_cache_tasks_store import land
from tests.store.test_rollups_store import NOW, make_job
from tickwork.clock import FakeClock
from tickwork.domain.stats import ALL_PARTS, HOURLY, TASKS
from tickwork.service.analytics import Analytics
from tickwork.service.context import Context
from tickwork.service.stats import StatsReport, StatsRequest, stats_report
from tickwork.store import SqlStore, create_store
from tickwork.store.rollup_cache import RollupCache

END = NOW + timedelta(minutes=40)  # 12:40: the range's last hour is the one runs land in
ONLY_TASKS = frozenset({TASKS})


@pytest.fixture
async def stores(db_url: str) -> AsyncIterator[tuple[SqlStore, SqlStore, SqlStore]]:
    """A reader with its cache, one without any, and a writer (another process's store)."""
    reader, plain, writer = create_store(db_url), create_store(db_url), create_store(db_url)
    plain.rollup_cache = RollupCache(0)
    for s in (reader, plain, writer):
        await s.open()
    yield reader, plain, writer
    for s in (reader, plain, writer):
        await s.close()


async def previous(store: SqlStore, days: int) -> StatsReport:
    """The report insights read of the period before ``days`` ending at ``END``."""
    start = END - timedelta(days=days)
    request = StatsRequest(start - timedelta(days=days), start)
    return await stats_report(store, request, ONLY_TASKS, trends=False)


async def current(store: SqlStore, days: int) -> StatsReport:
    request = StatsRequest(END - timedelta(days=days), END)
    return await stats_report(store, request, ALL_PARTS | {HOURLY}, trends=False)


def runs(report: StatsReport) -> int:
    return report.overall.runs


@pytest.mark.parametrize("days", [1, 7])
async def test_reports_and_insights_kept_while_right(
    stores: tuple[SqlStore, SqlStore, SqlStore], days: int
) -> None:
    reader, plain, writer = stores
    jobs = {task: await make_job(writer, task) for task in ("a", "b", "c")}
    # Runs over both periods; "c" fails every time (always failing, since when).
    await land(
        writer,
        jobs,
        *(
            (task, END - timedelta(hours=h, minutes=5 * t))
            for t, task in enumerate(("a", "b"))
            for h in range(0, 24 * 2 * days, 5)
        ),
    )
    await land(writer, jobs, *(("c", END - timedelta(hours=h)) for h in (1, 4, 30)))
    cached, uncached = (Analytics(Context(s, clock=FakeClock(END))) for s in (reader, plain))
    start = END - timedelta(days=days)

    async def check() -> tuple[StatsReport, StatsReport]:
        before = await previous(reader, days)
        assert before == await previous(plain, days)
        now = await current(reader, days)
        assert now == await current(plain, days)
        assert await cached.insights(start, END) == await uncached.insights(start, END)
        return before, now

    before, now = await check()
    assert runs(before) > 0
    assert await previous(reader, days) is before  # rows unchanged: the same report
    assert await previous(plain, days) is not await previous(plain, days)  # no cache: made anew

    # A run now: the period before is untouched, the range has one run more.
    await land(writer, jobs, ("a", END - timedelta(minutes=3)))
    again, now_after = await check()
    assert again is before
    assert runs(now_after) == runs(now) + 1

    # A late run in the period before (another store wrote it): its report is made again.
    await land(writer, jobs, ("b", start - timedelta(hours=7, minutes=1)))
    late, _ = await check()
    assert late is not before
    assert runs(late) == runs(before) + 1


async def test_reports_without_trends_have_the_same_figures(
    stores: tuple[SqlStore, SqlStore, SqlStore],
) -> None:
    reader, _, writer = stores
    jobs = {"a": await make_job(writer, "a")}
    await land(writer, jobs, *(("a", END - timedelta(hours=h)) for h in range(0, 30, 2)))
    request = StatsRequest(END - timedelta(days=1), END)
    full = await stats_report(reader, request, ALL_PARTS | {HOURLY})
    bare = await stats_report(reader, request, ALL_PARTS | {HOURLY}, trends=False)
    assert full.daily and full.hourly and not bare.daily and not bare.hourly
    assert (bare.tasks, bare.overall, bare.peak_hours, bare.keys, bare.errors) == (
        full.tasks,
        full.overall,
        full.peak_hours,
        full.keys,
        full.errors,
    )

"""The last piece of a cached read kept per task (``store/rollup_cache.py``, parts by task:
histograms, per-key counts, errors), on both backends: a read equals a read of the tables, and
its figures the figures of that read, after runs in the current hour of one task or of several,
late runs in settled hours and past days through another store, the hour turning and pruned
hour rows; the tasks that did not run hand the very same rows again."""

from __future__ import annotations

from datetime import datetime, timedelta

import sqlalchemy as sa

from tests.store.test_rollup_cache_store import MIDNIGHT, PARTS, runs_of, same, uncached
from tests.store.test_rollups_store import NOW, completion, make_job
from tickwork.domain.jobs import RunStatus
from tickwork.domain.stats import (
    DAY,
    HOUR,
    MINUTE,
    ByTask,
    RollupData,
    RollupQuery,
    key_figures,
    task_figures,
)
from tickwork.store import SqlStore, create_store
from tickwork.store.schema import error_rollups, key_rollups, rollups, series_rollups

TASKS = ("a", "b", "c")


def queries(now: datetime) -> list[RollupQuery]:
    """Ranges ending ``now`` as the dashboard and the API read them: by day, by the hour, by
    the minute (and within the hour), all tasks and two of them."""
    return [
        RollupQuery(now - timedelta(days=5), now, DAY, parts=PARTS),
        RollupQuery(now - timedelta(days=2), now, HOUR, parts=PARTS),
        RollupQuery(now - timedelta(hours=5), now, MINUTE, parts=PARTS),
        RollupQuery(now.replace(minute=0), now, MINUTE, parts=PARTS),
        RollupQuery(now - timedelta(days=3), now, DAY, tasks=("a", "b"), parts=PARTS),
    ]


def chunks(rows: list[object]) -> dict[str, tuple[object, ...]]:
    assert isinstance(rows, ByTask)
    return {chunk[0].task_name: chunk for chunk in rows.chunks}  # type: ignore[attr-defined]


def same_figures(a: RollupData, b: RollupData) -> bool:
    return task_figures(a.histograms) == task_figures(b.histograms) and key_figures(
        a.keys
    ) == key_figures(b.keys)


async def land(store: SqlStore, jobs: dict[str, int], *runs: tuple[str, datetime]) -> None:
    await store.complete(
        [
            completion(
                jobs[task],
                task,
                at,
                float(1 + i % 6),
                RunStatus.FAILED if i % 3 == 2 else RunStatus.SUCCEEDED,
                key=f"k{i % 3}",
                wait=float(i % 2),
                message=f"boom {task}",
            )
            for i, (task, at) in enumerate(runs)
        ]
    )


async def reads(reader: SqlStore, qs: list[RollupQuery]) -> list[RollupData]:
    out = []
    for q in qs:
        data = await reader.read_rollups(q)
        table = uncached(reader, q)
        assert same(data, table)
        assert same_figures(data, table)
        out.append(data)
    return out


async def test_only_the_tasks_that_ran_are_summed_again(db_url: str) -> None:
    reader, writer = create_store(db_url), create_store(db_url)
    await reader.open()
    await writer.open()
    try:
        jobs = {task: await make_job(writer, task) for task in TASKS}
        now = NOW + timedelta(minutes=40)  # 12:40: today's hours to noon settled
        await land(
            writer,
            jobs,
            *(
                (task, now - timedelta(hours=h, minutes=7 * t))
                for t, task in enumerate(TASKS)
                for h in range(0, 80, 3)
            ),
        )
        qs = queries(now)
        before = await reads(reader, qs)
        # A run of "a" in the current hour: only a's rows are new; b's and c's are the same
        # objects (their figures are kept with them).
        await land(writer, jobs, ("a", now - timedelta(minutes=2)))
        after = await reads(reader, qs)
        for q, old, new in zip(qs, before, after, strict=True):
            assert runs_of(new) == runs_of(old) + 1
            for part in ("histograms", "keys", "errors"):
                was, now_ = chunks(getattr(old, part)), chunks(getattr(new, part))
                for task in now_.keys() - {"a"}:
                    assert now_[task] is was[task], (q, part, task)
            assert chunks(new.histograms)["a"] is not chunks(old.histograms).get("a")
        # Runs of several tasks in the current hour, failures among them.
        await land(
            writer,
            jobs,
            ("b", now - timedelta(minutes=1)),
            ("c", now - timedelta(minutes=30)),
            ("b", now - timedelta(minutes=39)),
        )
        again = await reads(reader, qs)
        for q, old, new in zip(qs, after, again, strict=True):
            ran = {"b", "c"} & set(q.tasks or TASKS)
            assert runs_of(new) == runs_of(old) + (2 if ran == {"b"} else 3)
            was, now_ = chunks(old.histograms), chunks(new.histograms)
            assert now_["a"] is was["a"]
        # Late runs: in a settled hour of today, on a past day, in the hour before the current
        # one, each seen by the next read.
        for task, at in (
            ("c", MIDNIGHT + timedelta(hours=3, minutes=5)),
            ("a", MIDNIGHT - timedelta(days=1, hours=-4)),
            ("b", now - timedelta(hours=1)),
        ):
            old_data = [await reader.read_rollups(q) for q in qs]
            await land(writer, jobs, (task, at))
            for q, old, new in zip(qs, old_data, await reads(reader, qs), strict=True):
                counted = q.start <= at < q.end and task in (q.tasks or TASKS)
                assert runs_of(new) == runs_of(old) + counted
        # Nothing landed: the very rows of the read before.
        for q, data in zip(qs, await reads(reader, qs), strict=True):
            assert (await reader.read_rollups(q)).histograms is data.histograms
    finally:
        await reader.close()
        await writer.close()


async def test_tasks_summed_again_as_the_hour_turns(db_url: str) -> None:
    """Each hour the current hour's rows of each task are read afresh, and the hour that
    settled is added to the settled piece, while runs land in it for some tasks."""
    reader, writer = create_store(db_url), create_store(db_url)
    await reader.open()
    await writer.open()
    try:
        jobs = {task: await make_job(writer, task) for task in TASKS}
        await land(
            writer, jobs, *((TASKS[h % 3], MIDNIGHT - timedelta(hours=h)) for h in range(1, 60, 4))
        )
        for h in range(9, 14):
            now = MIDNIGHT + timedelta(hours=h, minutes=45)
            await land(writer, jobs, (TASKS[h % 3], now - timedelta(minutes=40)))
            await reads(reader, queries(now))
            await land(writer, jobs, (TASKS[(h + 1) % 3], now - timedelta(minutes=10)))
            for data in await reads(reader, queries(now)):
                assert runs_of(data) > 0
    finally:
        await reader.close()
        await writer.close()


async def test_tasks_of_a_last_day_without_its_hour_rows(db_url: str) -> None:
    """Retention took the hour rows of the last day's first hours (day rows stay): its day rows
    are read, and kept per task by the day's runs of each."""
    store = create_store(db_url)
    await store.open()
    try:
        jobs = {task: await make_job(store, task) for task in TASKS}
        now = NOW + timedelta(minutes=20)
        await land(
            store,
            jobs,
            *((TASKS[h % 3], now - timedelta(hours=h, minutes=5)) for h in range(0, 50, 2)),
        )
        with store.engine.begin() as conn:
            for table in (rollups, series_rollups, key_rollups, error_rollups):
                c = table.c
                conn.execute(
                    sa.delete(table).where(
                        c.period_seconds == HOUR, c.bucket_start < MIDNIGHT + timedelta(hours=4)
                    )
                )
        q = RollupQuery(now - timedelta(days=3), now, DAY, parts=PARTS)
        before = await reads(store, [q])
        await land(store, jobs, ("b", now - timedelta(minutes=3)))
        [after] = await reads(store, [q])
        assert runs_of(after) == runs_of(before[0]) + 1
        assert chunks(after.histograms)["a"] is chunks(before[0].histograms)["a"]
    finally:
        await store.close()

"""PostgreSQL only: the event-loop path of the store (enqueue and the plain claim on an
``AsyncConnection``, LISTEN as a task on the loop): it keeps working across dropped
connections and several event loops, and never makes a second caller wait for the first."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import psycopg
import pytest

from tickwork.domain.jobs import JobState, NewJob, TriggeredBy
from tickwork.errors import StoreError
from tickwork.store import SqlStore, create_store
from tickwork.store.postgres.loop import LOOP_APPLICATION_NAME
from tickwork.store.postgres.watch import PgLoopWatcher, PgNotifyWatcher

pytestmark = pytest.mark.postgres

T0 = datetime(2024, 5, 17, 12, 0, tzinfo=UTC)
WATCH_APP = "tickwork-watch"


def job(name: str = "t") -> NewJob:
    return NewJob(task_name=name, scheduled_at=T0, triggered_by=TriggeredBy.API)


def sessions(url: str, application_name: str, where: str = "TRUE") -> list[int]:
    """The backend PIDs of the sessions on ``url``'s database with that application name."""
    with psycopg.connect(url, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
            f" AND application_name = %s AND {where}",
            (application_name,),
        ).fetchall()
    return [r[0] for r in rows]


def terminate(url: str, pids: list[int]) -> None:
    """Terminate the sessions and wait until they are gone (the signal alone is asynchronous)."""
    with psycopg.connect(url, autocommit=True) as conn:
        for pid in pids:
            conn.execute("SELECT pg_terminate_backend(%s, 5000)", (pid,))


async def until(check: Callable[[], bool], what: str) -> None:
    """Wait (a few seconds at most) for a state another process reaches on its own."""
    for _ in range(300):
        if await asyncio.to_thread(check):
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"never happened: {what}")


@contextmanager
def table_locked(url: str, table: str) -> Iterator[psycopg.Connection[Any]]:
    """Another session holding ``table`` locked against writes until the block ends."""
    conn = psycopg.connect(url)
    try:
        conn.execute(f"LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE")
        yield conn
    finally:
        conn.rollback()
        conn.close()


class Calls:
    """An ``on_change`` callback that records the thread of each call."""

    def __init__(self) -> None:
        self.threads: list[int] = []
        self.event = asyncio.Event()

    def __call__(self) -> None:
        self.threads.append(threading.get_ident())
        self.event.set()

    async def next(self) -> None:
        await asyncio.wait_for(self.event.wait(), 5)
        self.event.clear()


@pytest.fixture
async def store(pg_url: str) -> AsyncIterator[SqlStore]:
    s = create_store(pg_url)
    await s.open()
    yield s
    await s.close()


async def test_enqueue_and_claim_run_on_the_loop_connection(store: SqlStore, pg_url: str) -> None:
    ids = await store.enqueue([job("a")], T0) + await store.enqueue([job("b"), job("c")], T0)
    assert len(sessions(pg_url, LOOP_APPLICATION_NAME)) == 1
    claimed = await store.claim("w", 10, T0, 30)
    assert [j.id for j in claimed] == ids and [j.task_name for j in claimed] == ["a", "b", "c"]
    assert all(j.state is JobState.RUNNING and j.worker_id == "w" for j in claimed)
    assert await store.claim("w", 10, T0, 30) == []
    await store.close()
    await until(lambda: not sessions(pg_url, LOOP_APPLICATION_NAME), "loop connection closed")


async def test_a_busy_loop_connection_sends_other_callers_to_the_thread_path(
    store: SqlStore, pg_url: str
) -> None:
    await store.enqueue([job("first")], T0)
    with table_locked(pg_url, "tickwork_tasks"):
        # The claim reads tickwork_tasks, so it waits on the loop connection; an enqueue
        # meanwhile (it does not touch tickwork_tasks) must not queue behind it.
        claim = asyncio.create_task(store.claim("w", 10, T0, 30))
        await until(
            lambda: bool(sessions(pg_url, LOOP_APPLICATION_NAME, "wait_event_type = 'Lock'")),
            "claim waiting for the lock",
        )
        [second] = await store.enqueue([job("second")], T0)
        assert not claim.done()
    claimed = await claim
    assert {j.task_name for j in claimed} <= {"first", "second"} and claimed[0].id < second


async def test_a_terminated_loop_connection_fails_the_call_once_then_reconnects(
    store: SqlStore, pg_url: str
) -> None:
    await store.enqueue([job()], T0)
    with table_locked(pg_url, "tickwork_jobs"):
        enqueue = asyncio.create_task(store.enqueue([job("lost")], T0))
        await until(
            lambda: bool(sessions(pg_url, LOOP_APPLICATION_NAME, "wait_event_type = 'Lock'")),
            "enqueue waiting for the lock",
        )
        terminate(pg_url, sessions(pg_url, LOOP_APPLICATION_NAME))
        with pytest.raises(StoreError, match="AdminShutdown"):
            await enqueue
    # Not repeated behind the caller's back: the write that failed did not happen.
    assert (await store.count_jobs_by_state())[JobState.AVAILABLE] == 1
    await store.enqueue([job()], T0)
    assert (await store.count_jobs_by_state())[JobState.AVAILABLE] == 2
    assert len(sessions(pg_url, LOOP_APPLICATION_NAME)) == 1


async def test_a_loop_connection_terminated_while_idle_is_replaced_before_use(
    store: SqlStore, pg_url: str
) -> None:
    await store.enqueue([job()], T0)
    [before] = sessions(pg_url, LOOP_APPLICATION_NAME)
    terminate(pg_url, [before])
    await until(lambda: before not in sessions(pg_url, LOOP_APPLICATION_NAME), "session ended")
    # Nothing was sent on the dead connection, so even a write can go on a new one.
    await store.enqueue([job()], T0)
    assert len(await store.claim("w", 10, T0, 30)) == 2
    [after] = sessions(pg_url, LOOP_APPLICATION_NAME)
    assert after != before


def test_one_store_serves_several_event_loops(pg_url: str) -> None:
    store = create_store(pg_url)

    async def enqueue_one() -> list[int]:
        return await store.enqueue([job()], T0)

    first = asyncio.run(enqueue_one())
    second = asyncio.run(enqueue_one())
    assert second[0] > first[0]

    async def claim_and_close() -> int:
        try:
            return len(await store.claim("w", 10, T0, 30))
        finally:
            await store.close()

    assert asyncio.run(claim_and_close()) == 2


async def test_loop_watcher_calls_back_on_the_loop_for_another_stores_enqueue(
    store: SqlStore, pg_url: str
) -> None:
    other = create_store(pg_url)
    calls = Calls()
    watcher = store.watch(calls)
    assert isinstance(watcher, PgLoopWatcher)
    try:
        await calls.next()  # once when the LISTEN is in place
        for _ in range(3):
            await other.enqueue([job()], T0)
            await calls.next()
        assert set(calls.threads) == {threading.get_ident()}
    finally:
        await watcher.aclose()
        await other.close()
    await until(lambda: not sessions(pg_url, WATCH_APP), "watch connection closed")


async def test_watch_off_the_loop_keeps_the_watcher_thread(store: SqlStore) -> None:
    watcher = await asyncio.to_thread(store.watch, lambda: None)
    try:
        assert isinstance(watcher, PgNotifyWatcher)
    finally:
        await asyncio.to_thread(watcher.close)


async def test_loop_watcher_reconnects_after_its_connection_is_killed(
    store: SqlStore, pg_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="tickwork.watch")
    other = create_store(pg_url)
    calls = Calls()
    watcher = store.watch(calls)
    assert isinstance(watcher, PgLoopWatcher)
    try:
        await calls.next()
        terminate(pg_url, sessions(pg_url, WATCH_APP))
        await calls.next()  # reconnected: looks once, since notifications meanwhile are lost
        await other.enqueue([job()], T0)
        await calls.next()
    finally:
        await watcher.aclose()
        await other.close()
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "notifications unavailable" in warnings[0].getMessage()
    assert any("restored" in r.getMessage() for r in caplog.records)


async def test_loop_watcher_close_from_another_thread_stops_it(
    store: SqlStore, pg_url: str
) -> None:
    calls = Calls()
    watcher = store.watch(calls)
    await calls.next()
    assert len(sessions(pg_url, WATCH_APP)) == 1
    await asyncio.to_thread(watcher.close)
    await until(lambda: not sessions(pg_url, WATCH_APP), "watch connection closed")

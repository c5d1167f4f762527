"""Progress and events of runs: from sync, async, isolated and shell tasks on a real worker and
store, kept within their bounds, listed per job, and pushed live on the event feed."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tickwork.domain.activity import (
    MAX_DATA_BYTES,
    MAX_EVENTS_PER_RUN,
    MAX_MESSAGE_BYTES,
    OUTPUT_PIECE_BYTES,
    OUTPUT_PIECES_KEPT,
    RunEvent,
    RunEventKind,
    RunEventQuery,
)
from tickwork.domain.jobs import JobState
from tickwork.domain.limits import Policies
from tickwork.domain.tasks import PythonTarget, ShellTarget, TaskDefinition, TaskSource
from tickwork.errors import ConfigError, NotFoundError
from tickwork.runtime.dispatch import Dispatcher
from tickwork.runtime.executors.python import PythonExecutor
from tickwork.runtime.worker import Worker, WorkerSettings
from tickwork.service.context import Context
from tickwork.service.events import RUN_EVENT, RUN_OUTPUT, RUN_PROGRESS, EventFeed
from tickwork.service.facade import Service
from tickwork.service.jobs import EnqueueRequest
from tickwork.store import SqlStore

MOD = "tests.runtime.activity_tasks"


def task(name: str, fn: str, **kw: object) -> TaskDefinition:
    return TaskDefinition(
        name=name, target=PythonTarget(f"{MOD}:{fn}"), source=TaskSource.CODE, **kw
    )  # type: ignore[arg-type]


SHELL_SCRIPT = r"""
echo starting
echo '::tickwork progress 1/4'
printf '::tickwork progress 2/4\n::tickwork event synced 40 repositories\n'
echo '::tickwork event {"message": "batch done", "processed": 40, "failed": 2}'
echo '::tickwork event {not json'
echo '::tickwork progress 4'
echo done
"""

DEFS = [
    task("sync", "sync_sync"),
    task("async", "async_sync"),
    task("isolated", "async_sync", policies=Policies(isolated=True)),
    task("isolated-chatty", "chatty", policies=Policies(isolated=True)),
    task("chatty", "chatty"),
    task("oversized", "oversized"),
    task("storm", "progress_storm"),
    task("slow", "slow_progress"),
    task("bad", "bad_progress"),
    task("silent", "silent"),
    TaskDefinition(name="shell", target=ShellTarget(SHELL_SCRIPT), source=TaskSource.CODE),
]


@pytest.fixture
async def service(store: SqlStore) -> Service:
    svc = Service(Context(store))
    await svc.sync_definitions(DEFS, [TaskSource.CODE])
    return svc


@pytest.fixture
async def worker(store: SqlStore) -> AsyncIterator[Worker]:
    w = Worker(
        store,
        Dispatcher(PythonExecutor(), output_limit=65536),
        WorkerSettings(worker_id="w1", max_concurrent_jobs=4, poll_interval_seconds=0.05),
    )
    await w.start()
    yield w
    await w.stop()
    await w.dispatcher.aclose()


async def run(service: Service, worker: Worker, name: str, **kwargs: object) -> int:
    """Enqueue, wait for the run to finish and its events to be written; the job's ID."""
    job_id = await service.enqueue(EnqueueRequest(name, kwargs=dict(kwargs)))
    worker.wake()
    async with asyncio.timeout(20):
        while (await service.get_job(job_id)).state not in (JobState.SUCCEEDED, JobState.FAILED):
            await asyncio.sleep(0.02)
    await worker.activity.flush()
    return job_id


async def events_of(service: Service, job_id: int) -> list[RunEvent]:
    return await service.run_events(job_id, limit=1000)


def kinds(events: list[RunEvent]) -> list[str]:
    return [e.kind.value for e in events]


async def test_sync_task_progress_and_event(service: Service, worker: Worker) -> None:
    job_id = await run(service, worker, "sync", n=3)
    events = await events_of(service, job_id)
    told = [e for e in events if e.kind is RunEventKind.EVENT]
    assert [(e.message, e.data) for e in told] == [
        ("synced repositories", {"processed": 3, "failed": 2})
    ]
    progress = [e for e in events if e.kind is RunEventKind.PROGRESS]
    # Coalesced: at most one per interval, and the last one is the final figure.
    assert 1 <= len(progress) <= 3
    assert (progress[-1].done, progress[-1].total) == (3.0, 3.0)
    assert {(e.job_id, e.attempt, e.task_name) for e in events} == {(job_id, 1, "sync")}


@pytest.mark.parametrize("name", ["async", "isolated"])
async def test_async_and_isolated_tasks_tell_the_same(
    service: Service, worker: Worker, name: str
) -> None:
    job_id = await run(service, worker, name, n=5)
    events = await events_of(service, job_id)
    told = [(e.message, e.data) for e in events if e.kind is RunEventKind.EVENT]
    assert told == [("starting", {"batch": "a"}), ("done", {"processed": 5})]
    last = [e for e in events if e.kind is RunEventKind.PROGRESS][-1]
    assert (last.done, last.total) == (5.0, 5.0)
    assert [e.id for e in events] == sorted(e.id for e in events)


async def test_shell_task_directive_lines(service: Service, worker: Worker) -> None:
    job_id = await run(service, worker, "shell")
    events = await events_of(service, job_id)
    told = [(e.message, e.data) for e in events if e.kind is RunEventKind.EVENT]
    assert told == [
        ("synced 40 repositories", None),
        ("batch done", {"processed": 40, "failed": 2}),
    ]  # the line that is not JSON is not an event
    last = [e for e in events if e.kind is RunEventKind.PROGRESS][-1]
    assert (last.done, last.total) == (4.0, None)
    # The lines stay in the captured output.
    (run_,) = await service.runs_of_job(job_id)
    assert "::tickwork event synced 40 repositories" in (run_.output or "")
    assert "starting" in (run_.output or "") and "done" in (run_.output or "")


@pytest.mark.parametrize("name", ["chatty", "isolated-chatty"])
async def test_events_beyond_the_cap_are_dropped_and_counted(
    service: Service, worker: Worker, name: str
) -> None:
    job_id = await run(service, worker, name, events=MAX_EVENTS_PER_RUN + 250)
    events = await events_of(service, job_id)
    events += await service.run_events(job_id, after_id=events[-1].id, limit=1000)
    assert len(events) == MAX_EVENTS_PER_RUN + 1  # the kept ones and the note
    assert events[MAX_EVENTS_PER_RUN - 1].message == f"event {MAX_EVENTS_PER_RUN - 1}"
    note = events[-1]
    assert note.data == {"dropped": 250} and "250 event(s) dropped" in (note.message or "")


async def test_message_and_data_caps(service: Service, worker: Worker) -> None:
    job_id = await run(service, worker, "oversized")
    big, small = await events_of(service, job_id)
    assert big.message is not None and len(big.message.encode()) <= MAX_MESSAGE_BYTES
    assert big.message.endswith("...")
    assert big.data is not None and set(big.data) == {"truncated"}
    assert str(MAX_DATA_BYTES) in big.data["truncated"]
    assert small.data == {"nested": {"a": [1, 2, "NaN"]}}


async def test_progress_is_coalesced(service: Service, worker: Worker) -> None:
    job_id = await run(service, worker, "storm", n=20_000)
    events = await events_of(service, job_id)
    assert kinds(events) == ["progress"] * len(events)
    assert len(events) < 50  # not one row per call
    assert (events[-1].done, events[-1].total) == (20_000.0, 20_000.0)


async def test_bad_progress_fails_the_run_with_a_clear_error(
    service: Service, worker: Worker
) -> None:
    job_id = await run(service, worker, "bad")
    (run_,) = await service.runs_of_job(job_id)
    assert run_.error_type == "ValueError" and "done" in (run_.error_message or "")


async def test_a_silent_run_writes_nothing(service: Service, worker: Worker) -> None:
    job_id = await run(service, worker, "silent")
    assert await events_of(service, job_id) == []
    assert worker.activity.written == 0


async def test_listing_checks_its_input(service: Service, worker: Worker) -> None:
    job_id = await run(service, worker, "sync", n=2)
    with pytest.raises(NotFoundError):
        await service.run_events(10**9)
    with pytest.raises(ConfigError) as err:
        await service.run_events(job_id, limit=0)
    assert err.value.field == "limit"
    with pytest.raises(ConfigError):
        await service.run_events(job_id, attempt=0)
    assert await service.run_events(job_id, attempt=2) == []
    first = await service.run_events(job_id, limit=1)
    rest = await service.run_events(job_id, after_id=first[0].id)
    assert [e.id for e in first + rest] == [e.id for e in await events_of(service, job_id)]


async def test_progress_arrives_on_the_live_feed(
    store: SqlStore, service: Service, worker: Worker
) -> None:
    feed = EventFeed(Context(store), poll_seconds=0.05)
    sub = await feed.subscribe(lambda e: e.type in (RUN_PROGRESS, RUN_EVENT))
    try:
        job_id = await service.enqueue(EnqueueRequest("slow", kwargs={"steps": 4, "pause": 0.3}))
        worker.wake()
        seen: list[float] = []
        async with asyncio.timeout(20):
            async for event in sub:
                assert event.type == RUN_PROGRESS
                subject = event.subject
                assert isinstance(subject, RunEvent) and subject.job_id == job_id
                assert subject.done is not None
                seen.append(subject.done)
                if subject.done == 4:
                    break
        # Seen while the run went on: more than the last figure, in order.
        assert len(seen) >= 2 and seen == sorted(seen)
        # A subscriber resuming from before them gets them replayed.
        again = await feed.subscribe(
            lambda e: e.type == RUN_PROGRESS, since=feed.cursor.__class__(events=0, missed=0)
        )
        replayed = [await anext(again) for _ in range(len(seen))]
        assert [e.subject.done for e in replayed] == seen  # type: ignore[union-attr]
    finally:
        await feed.close()


async def test_what_a_run_emits_after_it_ended_is_ignored(store: SqlStore) -> None:
    from tickwork.runtime.activity import ActivityRecorder

    recorder = ActivityRecorder(store, max_per_run=2)
    scope = recorder.scope(7, 1, "t")
    scope.event("one", None)
    scope.progress(1, 3)
    scope.event("over the cap", None)
    recorder.finish(scope)
    scope.event("late: a timed-out thread running on", None)
    scope.progress(3, 3)
    await recorder.flush()
    events = await store.query_run_events(RunEventQuery(job_id=7))
    assert [(e.kind.value, e.message, e.done) for e in events] == [
        ("event", "one", None),
        ("progress", None, 1.0),
        ("event", "1 event(s) dropped: at most 2 are kept per run", None),
    ]
    assert events[-1].task_name == "t" and events[-1].data == {"dropped": 1}


async def test_output_is_written_in_pieces_kept_bounded_and_removed_at_the_end(
    store: SqlStore,
) -> None:
    from tickwork.runtime.activity import ActivityRecorder

    recorder = ActivityRecorder(store)
    service = Service(Context(store))
    scope = recorder.scope(9, 1, "t")
    scope.output(b"x" * 20_000 + b"the end\n")
    await recorder.flush()
    (piece,) = await store.query_run_events(RunEventQuery(job_id=9, kind=RunEventKind.OUTPUT))
    cut = 20_008 - OUTPUT_PIECE_BYTES
    assert (
        piece.message
        == f"[... {cut} bytes not shown live ...]\n" + "x" * (OUTPUT_PIECE_BYTES - 8) + "the end\n"
    )
    # A character split between two writes comes out whole.
    scope.output(b"caf" + b"\xc3")
    await recorder.flush()
    scope.output(b"\xa9\n")
    await recorder.flush()
    assert (await service.live_output(9, 1)).endswith("the end\ncafé\n")
    # Pieces are not events: lists leave them out.
    assert await service.latest_events(9, 1) == []
    for i in range(OUTPUT_PIECES_KEPT + 5):
        scope.output(f"line {i}\n".encode())
        await recorder.flush()
    pieces = await store.query_run_events(RunEventQuery(job_id=9, kind=RunEventKind.OUTPUT))
    assert len(pieces) == OUTPUT_PIECES_KEPT
    assert (await service.live_output(9, 1)).endswith(f"line {OUTPUT_PIECES_KEPT + 4}\n")
    recorder.finish(scope)
    scope.output(b"after the end\n")
    await recorder.flush()
    assert await service.live_output(9, 1) == ""


SHELL_WAITING = r"""
echo first
echo 'to stderr' >&2
while [ ! -f "$GO" ]; do sleep 0.02; done
echo second
"""


async def test_shell_output_is_seen_while_the_job_runs(
    store: SqlStore, worker: Worker, tmp_path: Path
) -> None:
    go = tmp_path / "go"
    waiting = TaskDefinition(
        name="waiting",
        target=ShellTarget(SHELL_WAITING, env={"GO": str(go)}),
        source=TaskSource.CODE,
    )
    service = Service(Context(store))
    await service.sync_definitions([waiting], [TaskSource.CODE])
    feed = EventFeed(Context(store), poll_seconds=0.05)
    sub = await feed.subscribe(lambda e: e.type == RUN_OUTPUT)
    try:
        job_id = await service.enqueue(EnqueueRequest("waiting"))
        worker.wake()
        async with asyncio.timeout(20):
            event = await anext(sub)
        assert isinstance(event.subject, RunEvent) and event.subject.job_id == job_id
        async with asyncio.timeout(20):
            while "to stderr" not in (live := await service.live_output(job_id, 1)):
                await asyncio.sleep(0.02)
        assert "first" in live and "second" not in live
        assert (await service.get_job(job_id)).state is JobState.RUNNING
        go.touch()
        async with asyncio.timeout(20):
            while (await service.get_job(job_id)).state is not JobState.SUCCEEDED:
                await asyncio.sleep(0.02)
        await worker.activity.flush()
        assert await service.live_output(job_id, 1) == ""  # the run holds it now
        (run_,) = await service.runs_of_job(job_id)
        assert "first" in (run_.output or "") and "second" in (run_.output or "")
    finally:
        await feed.close()

"""The core event feed: one poller shared by every subscriber, each with its own filter and
queue, started by the first subscriber and stopped with the last."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest

from tickwork.clock import FakeClock
from tickwork.domain.access import LOCAL, Role
from tickwork.domain.jobs import Completion, Job, JobState, Outcome, Run, TriggeredBy
from tickwork.domain.queries import ProcessorInfo
from tickwork.domain.tasks import HttpTarget, TaskDefinition, TaskSource
from tickwork.service.accounts import Accounts
from tickwork.service.context import Context
from tickwork.service.events import (
    AUDIT_RECORDED,
    JOB_CHANGED,
    JOB_CREATED,
    PROCESSOR_DOWN,
    PROCESSOR_UP,
    RUN_FINISHED,
    RUN_STARTED,
    Cursor,
    Event,
    EventFeed,
    ProcessorChange,
    RunStart,
    Subscription,
)
from tickwork.service.facade import Service
from tickwork.service.jobs import EnqueueRequest
from tickwork.store import SqlStore

PING = TaskDefinition(name="ping", target=HttpTarget(url="http://127.0.0.1:9/"))


@pytest.fixture
def ctx(store: SqlStore) -> Context:
    return Context(store, clock=FakeClock(datetime.now(UTC)), resolve=None)


@pytest.fixture
async def feed(ctx: Context) -> AsyncIterator[EventFeed]:
    await Service(ctx).sync_definitions([PING], [TaskSource.CODE])
    feed = EventFeed(ctx, poll_seconds=0.02)
    yield feed
    await feed.close()


async def next_events(sub: Subscription, count: int) -> list[Event]:
    async with asyncio.timeout(5):
        return [await anext(sub) for _ in range(count)]


async def enqueue(ctx: Context, n: int = 1) -> list[int]:
    return await Service(ctx).enqueue_many([EnqueueRequest("ping") for _ in range(n)])


async def run_one(ctx: Context, worker: str = "w1") -> Job:
    """Claim one due job and record its run, as a worker would."""
    now = ctx.clock.now()
    (job,) = await ctx.store.claim(worker, 1, now, 60)
    await ctx.store.complete(
        [
            Completion(
                job_id=job.id,
                task_name=job.task_name,
                attempt=job.attempt,
                triggered_by=TriggeredBy.API,
                worker_id=worker,
                started_at=now,
                finished_at=now + timedelta(seconds=1),
                outcome=Outcome.success(),
                next_state=JobState.SUCCEEDED,
            )
        ]
    )
    return job


async def test_every_subscriber_gets_every_event_in_order(ctx: Context, feed: EventFeed) -> None:
    first, second = await feed.subscribe(), await feed.subscribe()
    assert feed.listening == 2
    ids = await enqueue(ctx, 2)
    job = await run_one(ctx)
    for sub in (first, second):
        events = await next_events(sub, 4)
        assert [e.type for e in events] == [JOB_CREATED, JOB_CREATED, RUN_STARTED, RUN_FINISHED]
        created = [e.subject for e in events[:2]]
        assert all(isinstance(j, Job) for j in created)
        assert [j.id for j in created if isinstance(j, Job)] == ids
        started, finished = events[2].subject, events[3].subject
        assert isinstance(started, RunStart) and started.job_id == job.id
        assert isinstance(finished, Run) and finished.job_id == job.id
        # Positions only move forward, and the feed's cursor is the last one.
        assert events[-1].cursor == feed.cursor


async def test_each_subscriber_has_its_own_filter(ctx: Context, feed: EventFeed) -> None:
    runs = await feed.subscribe(lambda e: e.type.startswith("run."))
    audit = await feed.subscribe(lambda e: e.type in (JOB_CHANGED, AUDIT_RECORDED))
    everything = await feed.subscribe()
    await enqueue(ctx)
    await run_one(ctx)
    await Service(ctx).set_enabled("ping", False)  # an audit entry about a job
    accounts = Accounts(ctx)
    await accounts.create_user("alice", Role.ADMIN, None, actor=LOCAL)  # one about a user
    assert [e.type for e in await next_events(runs, 2)] == [RUN_STARTED, RUN_FINISHED]
    changed, recorded = await next_events(audit, 2)
    assert changed.type == JOB_CHANGED and recorded.type == AUDIT_RECORDED
    assert [getattr(e.subject, "action", None) for e in (changed, recorded)] == [
        "job.disable",
        "user.create",
    ]
    types = [e.type for e in await next_events(everything, 5)]
    # Each source in order; sources read one after the other may interleave differently from
    # how things happened (a poll can see the audit entry and not yet the run before it).
    assert sorted(types) == sorted(
        [JOB_CREATED, RUN_STARTED, RUN_FINISHED, JOB_CHANGED, AUDIT_RECORDED]
    )
    assert types.index(JOB_CREATED) < types.index(RUN_STARTED) < types.index(RUN_FINISHED)
    assert types.index(JOB_CHANGED) < types.index(AUDIT_RECORDED)
    assert runs.pending == 0 and audit.pending == 0


async def test_a_slow_subscriber_is_dropped_without_holding_up_the_others(
    ctx: Context, feed: EventFeed
) -> None:
    slow = await feed.subscribe(max_backlog=3)  # never reads
    fast = await feed.subscribe()
    await enqueue(ctx, 5)
    got = await next_events(fast, 5)
    assert [e.type for e in got] == [JOB_CREATED] * 5
    assert slow.dropped and feed.listening == 1
    # What it had queued it still gets, then its iteration ends (it may resume from there).
    kept = [event async for event in slow]
    assert len(kept) == 3 and kept[-1].cursor.jobs < got[-1].cursor.jobs
    await enqueue(ctx)
    assert [e.type for e in await next_events(fast, 1)] == [JOB_CREATED]


async def test_the_poller_starts_with_the_first_subscriber_and_stops_with_the_last(
    ctx: Context, feed: EventFeed
) -> None:
    assert not feed.polling
    first = await feed.subscribe()
    task = feed._task
    assert feed.polling and task is not None
    second = await feed.subscribe()
    assert feed._task is task  # one poller, shared
    first.close()
    assert feed.polling and feed.listening == 1
    second.close()
    assert not feed.polling and feed.listening == 0
    await asyncio.sleep(0)  # the cancellation lands
    assert task.cancelled() or task.done()
    # And starts again for the next one, from the store as it is then.
    await enqueue(ctx)
    third = await feed.subscribe()
    assert feed.polling
    await enqueue(ctx)
    (event,) = await next_events(third, 1)
    assert event.type == JOB_CREATED
    third.close()
    assert not feed.polling


async def test_a_subscriber_resumes_from_a_cursor(ctx: Context, feed: EventFeed) -> None:
    sub = await feed.subscribe()
    await enqueue(ctx)
    (seen,) = await next_events(sub, 1)
    sub.close()
    missed = await enqueue(ctx, 2)
    await run_one(ctx)
    resumed = await feed.subscribe(lambda e: e.type != RUN_STARTED, since=seen.cursor)
    events = await next_events(resumed, 3)
    assert [e.type for e in events] == [JOB_CREATED, JOB_CREATED, RUN_FINISHED]
    assert [e.subject.id for e in events[:2] if isinstance(e.subject, Job)] == missed
    assert Cursor.decode(events[-1].cursor.encode()) == events[-1].cursor


async def test_processors_coming_and_going(ctx: Context, feed: EventFeed) -> None:
    sub = await feed.subscribe(lambda e: e.type.startswith("processor."))
    now = ctx.clock.now()
    info = ProcessorInfo("p1", "worker", "host", 1, "0", now, now, None)
    await ctx.store.heartbeat(info)
    (up,) = await next_events(sub, 1)
    await ctx.store.heartbeat(ProcessorInfo("p1", "worker", "host", 1, "0", now, now, now))
    (down,) = await next_events(sub, 1)
    assert up.type == PROCESSOR_UP and down.type == PROCESSOR_DOWN
    assert isinstance(down.subject, ProcessorChange) and down.subject.state == "stopped"


async def test_close_ends_every_subscription(feed: EventFeed) -> None:
    subs = [await feed.subscribe() for _ in range(3)]
    await feed.close()
    assert not feed.polling and feed.listening == 0
    for sub in subs:
        assert [event async for event in sub] == []

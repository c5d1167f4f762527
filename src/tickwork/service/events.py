"""The live event feed: what happens in the cluster, read from the store and handed to every
subscriber of this process (the REST API's event stream today; the dashboard and alerts).

One poller per process reads the store every ``poll_seconds`` while at least one subscriber
listens, and stops with the last one. Reading the store (instead of hooking the worker) makes
events cover every process of the store, on SQLite and PostgreSQL, and costs the job hot path
nothing. What is read, each poll:

- jobs created after the jobs cursor → ``job.created`` (a ``Job``)
- jobs ``running`` not announced before → ``run.started`` (a ``RunStart``)
- runs recorded after the runs cursor → ``run.finished`` (a ``Run``), preceded by its
  ``run.started`` when the run began and ended between two polls, so every run has both
- audit entries after the audit cursor → ``job.changed`` for entries about definitions and
  queued jobs, ``audit.recorded`` for the others (an ``AuditEntry`` either way)
- processors whose state (running / lost / stopped) changed → ``processor.up`` / ``.down``
- run events after the events cursor → ``run.progress`` / ``run.event`` / ``run.output`` (a
  ``RunEvent``; ``run.output``: a piece of a running attempt's output)
- missed fires after the missed cursor → ``fire.missed`` (a ``MissedFire``)

Events of one source come in the order they were recorded, and a job's creation, start and end
in that order; the sources are read one after the other, so events of different sources may
interleave otherwise than they happened (an audit entry written just after a run ended can come
before that run's end). Each event carries the feed's position after it (a ``Cursor``); a
subscriber that resumes from a cursor gets the created/finished/changed/recorded, run
progress/event and missed-fire events it missed replayed from the store (``run.started`` and
processor events are live only). Each subscriber has its own filter and its own queue: one that
falls ``max_backlog`` events behind is dropped (its iteration ends; it may resume from its last
cursor), so a slow subscriber never holds up the others."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from tickwork.domain.access import AuditEntry, AuditQuery
from tickwork.domain.activity import (
    MissedFire,
    MissedFireQuery,
    RunEvent,
    RunEventKind,
    RunEventQuery,
)
from tickwork.domain.jobs import Job, JobState, Run
from tickwork.domain.processors import RUNNING, lost_after_seconds, processor_state
from tickwork.errors import ConfigError, StoreError
from tickwork.service.context import Context
from tickwork.service.queries import JobQuery, ProcessorInfo, RunQuery

log = logging.getLogger("tickwork.events")

RUN_STARTED = "run.started"
RUN_FINISHED = "run.finished"
JOB_CREATED = "job.created"
JOB_CHANGED = "job.changed"
AUDIT_RECORDED = "audit.recorded"
PROCESSOR_UP = "processor.up"
PROCESSOR_DOWN = "processor.down"
RUN_PROGRESS = "run.progress"
RUN_EVENT = "run.event"
RUN_OUTPUT = "run.output"
# The feed's name of each kind of run event.
RUN_EVENT_NAMES = {
    RunEventKind.PROGRESS: RUN_PROGRESS,
    RunEventKind.EVENT: RUN_EVENT,
    RunEventKind.OUTPUT: RUN_OUTPUT,
}
FIRE_MISSED = "fire.missed"

# Audit entries about these targets are ``job.changed`` events (definitions and queued jobs).
JOB_TARGET_TYPES = frozenset({"job", "queue_job"})

# <runs>-<jobs>-<audit>-<run events>-<missed fires>; the first three alone are the form of
# earlier versions, still accepted.
_CURSOR = re.compile(r"(\d{1,18})-(\d{1,18})-(\d{1,18})(?:-(\d{1,18})-(\d{1,18}))?")
# Remembered (job, attempt) pairs announced as started, so a run is announced once.
_MAX_ANNOUNCED = 20_000


@dataclass(frozen=True)
class Cursor:
    """How far into runs, jobs, audit entries, run events and missed fires (by id) the feed
    has gone. ``events``/``missed`` None: unknown (a cursor of the earlier three-part form);
    a resume from it replays none of those."""

    runs: int = 0
    jobs: int = 0
    audit: int = 0
    events: int | None = 0
    missed: int | None = 0

    def encode(self) -> str:
        return f"{self.runs}-{self.jobs}-{self.audit}-{self.events or 0}-{self.missed or 0}"

    @classmethod
    def decode(cls, text: str, *, field: str = "cursor") -> Cursor:
        match = _CURSOR.fullmatch(text.strip())
        if match is None:
            raise ConfigError(
                "expected an event id like '12-34-5-6-0' (as sent by this stream), got "
                f"{text[:40]!r}",
                field=field,
            )
        runs, jobs, audit, events, missed = match.groups()
        return cls(
            runs=int(runs),
            jobs=int(jobs),
            audit=int(audit),
            events=None if events is None else int(events),
            missed=None if missed is None else int(missed),
        )


@dataclass(frozen=True)
class RunStart:
    """A job's attempt began (seen running, or recorded before it was seen running)."""

    job_id: int
    task_name: str
    attempt: int
    worker_id: str | None


@dataclass(frozen=True)
class ProcessorChange:
    info: ProcessorInfo
    state: str  # domain.processors: running, lost or stopped


# What an event is about; adapters render it (the REST API as JSON).
Subject = Job | RunStart | Run | AuditEntry | ProcessorChange | RunEvent | MissedFire


@dataclass(frozen=True)
class Event:
    type: str
    at: datetime
    subject: Subject
    cursor: Cursor  # the feed's position after this event


EventFilter = Callable[[Event], bool]


def _everything(event: Event) -> bool:
    return True


class Subscription:
    """One subscriber's events, in order: ``async for event in subscription``. The iteration
    ends when the feed drops the subscriber (it fell too far behind) or closes."""

    def __init__(self, feed: EventFeed, accepts: EventFilter, max_backlog: int) -> None:
        self.accepts = accepts
        self.max_backlog = max_backlog
        self.dropped = False  # fell ``max_backlog`` events behind
        self.closed = False
        self._feed = feed
        # Unbounded as a queue; the feed drops the subscriber at ``max_backlog`` instead, so
        # that the end-of-stream marker (None) always fits.
        self._queue: asyncio.Queue[Event | None] = asyncio.Queue()

    def __aiter__(self) -> Subscription:
        return self

    async def __anext__(self) -> Event:
        # Safe to cancel (e.g. by a timeout): Queue.get loses nothing when cancelled.
        event = await self._queue.get()
        if event is None:
            raise StopAsyncIteration
        return event

    @property
    def pending(self) -> int:
        return self._queue.qsize()

    def close(self) -> None:
        """Stop listening (the poller stops with the last subscriber). Synchronous, so that a
        subscriber's cleanup can call it while its task is being cancelled."""
        self._feed.unsubscribe(self)

    def _offer(self, event: Event) -> bool:
        """Queue ``event`` if accepted; False if the subscriber fell too far behind."""
        if not self.accepts(event):
            return True
        if self._queue.qsize() >= self.max_backlog:
            return False
        self._queue.put_nowait(event)
        return True

    def _end(self) -> None:
        if not self.closed:
            self.closed = True
            self._queue.put_nowait(None)


class EventFeed:
    """The shared poller and its subscribers (one per process: the composition root makes it)."""

    def __init__(
        self,
        ctx: Context,
        *,
        poll_seconds: float = 0.5,
        max_backlog: int = 2_000,
        batch: int = 500,
    ) -> None:
        self.store = ctx.store
        self.clock = ctx.clock
        self.poll_seconds = poll_seconds
        self.lost_after_seconds = lost_after_seconds(ctx.heartbeat_interval_seconds)
        self.max_backlog = max_backlog
        self.batch = batch
        self.cursor = Cursor()
        self._subscribers: list[Subscription] = []
        self._task: asyncio.Task[None] | None = None
        # Held while a poll publishes and while a subscriber catches up, so a resuming
        # subscriber sees every event exactly once: replayed up to the cursor, live after it.
        self._lock = asyncio.Lock()
        self._announced: OrderedDict[tuple[int, int], None] = OrderedDict()
        self._processors: dict[str, str] = {}
        self._store_down = False

    @property
    def listening(self) -> int:
        return len(self._subscribers)

    @property
    def polling(self) -> bool:
        return self._task is not None and not self._task.done()

    # --- subscribers -------------------------------------------------------------------------
    async def subscribe(
        self,
        accepts: EventFilter = _everything,
        *,
        since: Cursor | None = None,
        max_backlog: int | None = None,
    ) -> Subscription:
        """Start listening to the events ``accepts`` lets through (and the poller with the
        first subscriber). With ``since``, the events after it are replayed first.
        ``StoreError`` if the store is unreachable."""
        sub = Subscription(self, accepts, max_backlog or self.max_backlog)
        async with self._lock:
            if not self.polling:
                await self._prime()
            if since is not None:
                for event in await self._replay(since, self.cursor, sub):
                    sub._offer(event)
            self._subscribers.append(sub)
            # Checked again: the last other subscriber may have left while this one primed.
            if not self.polling:
                self._task = asyncio.create_task(self._run(), name="tickwork-events")
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        """Stop ``sub`` (synchronous); the poller stops with the last subscriber."""
        sub._end()
        with contextlib.suppress(ValueError):
            self._subscribers.remove(sub)
        if not self._subscribers and self._task is not None:
            self._task.cancel()
            self._task = None

    async def close(self) -> None:
        """End every subscription and stop polling (at shutdown)."""
        for sub in list(self._subscribers):
            sub._end()
        self._subscribers.clear()
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def _publish(self, events: Sequence[Event]) -> None:
        for sub in list(self._subscribers):
            if sub.closed:
                continue
            for event in events:
                if not sub._offer(event):
                    log.warning("an event subscriber fell %d events behind; dropped", sub.pending)
                    sub.dropped = True
                    sub._end()
                    self._subscribers.remove(sub)
                    break

    # --- polling -----------------------------------------------------------------------------
    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.poll_seconds)
            try:
                async with self._lock:
                    self._publish(await self.poll())
                if self._store_down:
                    log.info("events: store reachable again")
                    self._store_down = False
            except StoreError as exc:
                if not self._store_down:
                    log.warning("events: store unreachable (%s); retrying", exc)
                    self._store_down = True
            except Exception:
                log.exception("events: poll failed; retrying")

    async def _prime(self) -> None:
        """Start from now: the newest ids, the running jobs and processor states as they are."""
        runs = await self.store.query_runs(RunQuery(sort="id", limit=1))
        jobs = await self.store.query_jobs(JobQuery(limit=1))
        audit = await self.store.query_audit(AuditQuery(limit=1))
        missed = await self.store.query_missed_fires(MissedFireQuery(limit=1))
        self.cursor = Cursor(
            runs=runs[0].id if runs else 0,
            jobs=jobs[0].id if jobs else 0,
            audit=audit[0].id if audit else 0,
            events=await self.store.latest_run_event_id(),
            missed=missed[0].id if missed else 0,
        )
        self._announced.clear()
        for job in await self._running():
            self._announce(job.id, job.attempt)
        now = self.clock.now()
        self._processors = {
            p.id: processor_state(p, now, self.lost_after_seconds)
            for p in await self.store.list_processors()
        }

    async def _running(self) -> list[Job]:
        return await self.store.query_jobs(JobQuery(states=[JobState.RUNNING], limit=1000))

    def _announce(self, job_id: int, attempt: int) -> bool:
        """Remember a started run; False if it was announced already."""
        key = (job_id, attempt)
        if key in self._announced:
            return False
        self._announced[key] = None
        while len(self._announced) > _MAX_ANNOUNCED:
            self._announced.popitem(last=False)
        return True

    async def poll(self) -> list[Event]:
        """Read what changed since the last poll and advance the cursors (one batch each)."""
        events: list[Event] = []
        cursor = self.cursor
        # Read the later stages first (runs, then running jobs, then new jobs): whatever a read
        # finds running or finished was created before the reads that follow it, so a job's
        # creation is never announced after its start or its end.
        finished = await self._runs_after(cursor.runs)
        running = sorted(await self._running(), key=lambda j: j.id)
        created = await self.store.query_jobs(
            JobQuery(after_id=cursor.jobs, oldest_first=True, limit=self.batch)
        )
        for job in created:
            cursor = replace(cursor, jobs=job.id)
            events.append(Event(JOB_CREATED, job.created_at, job, cursor))
        for job in running:
            if self._announce(job.id, job.attempt):
                start = RunStart(job.id, job.task_name, job.attempt, job.worker_id)
                events.append(Event(RUN_STARTED, job.started_at or self.clock.now(), start, cursor))
        told, cursor = await self._run_events_after(cursor, None)
        events.extend(told)
        for run in finished:
            cursor = replace(cursor, runs=run.id)
            if self._announce(run.job_id, run.attempt):
                start = RunStart(run.job_id, run.task_name, run.attempt, run.worker_id)
                events.append(Event(RUN_STARTED, run.started_at, start, cursor))
            self._announced.pop((run.job_id, run.attempt), None)
            events.append(Event(RUN_FINISHED, run.finished_at, run, cursor))
        changes, cursor = await self._audit_after(cursor, None)
        events.extend(changes)
        missed, cursor = await self._missed_after(cursor, None)
        events.extend(missed)
        events.extend(await self._processor_events(cursor))
        self.cursor = cursor
        return events

    async def _runs_after(self, run_id: int) -> list[Run]:
        """Runs recorded after ``run_id``, in the order they were recorded."""
        # An id cursor needs an existing run; 0 (none seen yet) means from the start.
        after = run_id or None
        query = RunQuery(after_id=after, sort="id", ascending=True, limit=self.batch)
        return await self.store.query_runs(query)

    async def _audit_after(self, cursor: Cursor, upto: int | None) -> tuple[list[Event], Cursor]:
        entries = await self.store.query_audit(AuditQuery(after_id=cursor.audit, limit=self.batch))
        events = []
        for entry in sorted(entries, key=lambda e: e.id):
            if upto is not None and entry.id > upto:
                break
            cursor = replace(cursor, audit=entry.id)
            kind = JOB_CHANGED if entry.target_type in JOB_TARGET_TYPES else AUDIT_RECORDED
            events.append(Event(kind, entry.at, entry, cursor))
        return events, cursor

    async def _run_events_after(
        self, cursor: Cursor, upto: int | None
    ) -> tuple[list[Event], Cursor]:
        query = RunEventQuery(after_id=cursor.events or 0, limit=self.batch, with_output=True)
        events = []
        for told in await self.store.query_run_events(query):
            if upto is not None and told.id > upto:
                break
            cursor = replace(cursor, events=told.id)
            events.append(Event(RUN_EVENT_NAMES[told.kind], told.at, told, cursor))
        return events, cursor

    async def _missed_after(self, cursor: Cursor, upto: int | None) -> tuple[list[Event], Cursor]:
        query = MissedFireQuery(after_id=cursor.missed or 0, limit=self.batch)
        events = []
        for missed in await self.store.query_missed_fires(query):
            if upto is not None and missed.id > upto:
                break
            cursor = replace(cursor, missed=missed.id)
            events.append(Event(FIRE_MISSED, missed.recorded_at, missed, cursor))
        return events, cursor

    async def _processor_events(self, cursor: Cursor) -> list[Event]:
        now = self.clock.now()
        events = []
        seen: dict[str, str] = {}
        for info in await self.store.list_processors():
            state = processor_state(info, now, self.lost_after_seconds)
            seen[info.id] = state
            before = self._processors.get(info.id)
            if state == before:
                continue
            if state == RUNNING:
                events.append(Event(PROCESSOR_UP, now, ProcessorChange(info, state), cursor))
            elif before == RUNNING:
                events.append(Event(PROCESSOR_DOWN, now, ProcessorChange(info, state), cursor))
        self._processors = seen
        return events

    async def _replay(self, since: Cursor, upto: Cursor, sub: Subscription) -> list[Event]:
        """The replayable events after ``since`` up to ``upto`` that ``sub`` accepts (at most
        its ``max_backlog``)."""
        events: list[Event] = []
        cap = sub.max_backlog

        def keep(event: Event) -> None:
            if sub.accepts(event):
                events.append(event)

        # A cursor of the earlier form does not know these: nothing of them is replayed.
        cursor = replace(
            since,
            events=upto.events if since.events is None else since.events,
            missed=upto.missed if since.missed is None else since.missed,
        )
        while cursor.jobs < upto.jobs and len(events) < cap:
            page = await self.store.query_jobs(
                JobQuery(after_id=cursor.jobs, oldest_first=True, limit=self.batch)
            )
            page = [j for j in page if j.id <= upto.jobs]
            if not page:
                break
            for job in page:
                cursor = replace(cursor, jobs=job.id)
                keep(Event(JOB_CREATED, job.created_at, job, cursor))
        while cursor.runs < upto.runs and len(events) < cap:
            runs = [r for r in await self._runs_after(cursor.runs) if r.id <= upto.runs]
            if not runs:
                break
            for run in runs:
                cursor = replace(cursor, runs=run.id)
                keep(Event(RUN_FINISHED, run.finished_at, run, cursor))
        while cursor.audit < upto.audit and len(events) < cap:
            changes, moved = await self._audit_after(cursor, upto.audit)
            if moved == cursor:
                break
            cursor = moved
            for event in changes:
                keep(event)
        for after in (self._run_events_after, self._missed_after):
            while len(events) < cap:
                found, moved = await after(cursor, None)
                found = [e for e in found if _within(e, upto)]
                if not found:
                    break
                cursor = found[-1].cursor
                for event in found:
                    keep(event)
        return events[:cap]


def _within(event: Event, upto: Cursor) -> bool:
    """Whether a run or missed-fire event is at or before ``upto``."""
    subject = event.subject
    if isinstance(subject, RunEvent):
        return subject.id <= (upto.events or 0)
    assert isinstance(subject, MissedFire)
    return subject.id <= (upto.missed or 0)

"""Live events for ``GET /api/events`` (Server-Sent Events).

One poller per API process reads the store every ``poll_seconds`` while at least one client
listens, and hands what changed to every subscriber allowed to see it. Reading the store (instead
of hooking the worker) makes events work on SQLite and PostgreSQL, across processes, and costs
the job hot path nothing. What is read, each poll:

- jobs created after the jobs cursor → ``job.created``
- jobs ``running`` not announced before → ``run.started``
- runs recorded after the runs cursor → ``run.finished`` (preceded by its ``run.started`` when
  the run began and ended between two polls, so every run has both)
- audit entries about jobs after the audit cursor → ``job.changed``
- processors whose state (running / lost / stopped) changed → ``processor.up`` / ``.down``

An event's SSE id is the three store cursors after it (``<runs>-<jobs>-<audit>``); a client that
reconnects with ``Last-Event-ID`` gets the created/finished/changed events it missed replayed from
the store (``run.started`` and processor events are live only).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from tickwork.api.schemas import run_out
from tickwork.domain.access import AuditEntry, AuditQuery, Principal, Scope
from tickwork.domain.jobs import Job, JobState, Run
from tickwork.domain.queries import JobQuery, ProcessorInfo, RunQuery
from tickwork.errors import ConfigError, StoreError
from tickwork.runtime.clock import Clock, SystemClock
from tickwork.runtime.heartbeat import DEFAULT_HEARTBEAT_SECONDS
from tickwork.service import LOST_AFTER_HEARTBEATS, processor_state
from tickwork.store.base import Store

log = logging.getLogger("tickwork.api.events")

RUN_STARTED = "run.started"
RUN_FINISHED = "run.finished"
JOB_CREATED = "job.created"
JOB_CHANGED = "job.changed"
PROCESSOR_UP = "processor.up"
PROCESSOR_DOWN = "processor.down"

# The scope a subscriber needs to see each kind of event.
EVENT_SCOPES: dict[str, Scope] = {
    RUN_STARTED: Scope.JOBS_READ,
    RUN_FINISHED: Scope.JOBS_READ,
    JOB_CREATED: Scope.JOBS_READ,
    JOB_CHANGED: Scope.JOBS_READ,
    PROCESSOR_UP: Scope.JOBS_READ,
    PROCESSOR_DOWN: Scope.JOBS_READ,
}
# Audit entries about these targets are ``job.changed`` events (definitions and queued jobs);
# entries about users, tokens and settings are not for every reader.
JOB_TARGET_TYPES = frozenset({"job", "queue_job"})

_CURSOR = re.compile(r"(\d{1,18})-(\d{1,18})-(\d{1,18})")
# Remembered (job, attempt) pairs announced as started, so a run is announced once.
_MAX_ANNOUNCED = 20_000


@dataclass(frozen=True)
class Cursor:
    """How far into runs, jobs and audit entries (by id) a stream has gone."""

    runs: int = 0
    jobs: int = 0
    audit: int = 0

    def encode(self) -> str:
        return f"{self.runs}-{self.jobs}-{self.audit}"

    @classmethod
    def decode(cls, text: str) -> Cursor:
        match = _CURSOR.fullmatch(text.strip())
        if match is None:
            raise ConfigError(
                f"expected an event id like '12-34-5' (as sent by this stream), got {text[:40]!r}",
                field="Last-Event-ID",
            )
        runs, jobs, audit = (int(g) for g in match.groups())
        return cls(runs=runs, jobs=jobs, audit=audit)


@dataclass(frozen=True)
class Event:
    type: str
    at: datetime
    data: dict[str, Any]
    cursor: Cursor  # the stream's position after this event: its SSE id

    def payload(self) -> dict[str, Any]:
        return {"type": self.type, "at": self.at.isoformat(), "data": self.data}

    def sse(self) -> str:
        body = json.dumps(self.payload(), separators=(",", ":"), default=str)
        return f"id: {self.cursor.encode()}\nevent: {self.type}\ndata: {body}\n\n"


@dataclass(eq=False)
class Subscription:
    """One listening client: the events it may see, in order. ``None`` in the queue means the
    hub dropped it (it fell too far behind); it may reconnect with its last event id."""

    principal: Principal
    queue: asyncio.Queue[Event | None] = field(default_factory=asyncio.Queue)
    closed: bool = False

    def allows(self, event: Event) -> bool:
        return self.principal.allows(EVENT_SCOPES[event.type])


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def job_created_data(job: Job) -> dict[str, Any]:
    return {
        "job_id": job.id,
        "task": job.task_name,
        "state": job.state.value,
        "scheduled_at": _iso(job.scheduled_at),
        "priority": job.priority,
        "key": job.key,
        "triggered_by": job.triggered_by.value,
    }


def run_started_data(job_id: int, task: str, attempt: int, worker: str | None) -> dict[str, Any]:
    return {"job_id": job_id, "task": task, "attempt": attempt, "worker_id": worker}


def run_finished_data(run: Run) -> dict[str, Any]:
    """The run as ``GET /api/runs`` lists it, its ``id`` named ``run_id``."""
    fields = run_out(run).model_dump(mode="json", exclude={"id"})
    return {"run_id": run.id, **fields}


def job_changed_data(entry: AuditEntry) -> dict[str, Any]:
    return {
        "audit_id": entry.id,
        "action": entry.action,
        "target_type": entry.target_type,
        "target": entry.target,
        "actor": entry.actor,
        "request_id": entry.request_id,
    }


def processor_data(info: ProcessorInfo, state: str) -> dict[str, Any]:
    return {
        "id": info.id,
        "role": info.role,
        "host": info.host,
        "pid": info.pid,
        "state": state,
        "heartbeat_at": _iso(info.heartbeat_at),
    }


class EventHub:
    """The shared poller and its subscribers (one per API process)."""

    def __init__(
        self,
        store: Store,
        *,
        clock: Clock | None = None,
        poll_seconds: float = 0.5,
        heartbeat_seconds: float = 15.0,
        processor_heartbeat_seconds: float = DEFAULT_HEARTBEAT_SECONDS,
        max_backlog: int = 2_000,
        batch: int = 500,
    ) -> None:
        self.store = store
        self.clock = clock or SystemClock()
        self.poll_seconds = poll_seconds
        # How often a stream sends a comment when it has nothing else to send (the route's job).
        self.heartbeat_seconds = heartbeat_seconds
        self.lost_after_seconds = LOST_AFTER_HEARTBEATS * processor_heartbeat_seconds
        self.max_backlog = max_backlog
        self.batch = batch
        self.cursor = Cursor()
        self._subscribers: list[Subscription] = []
        self._task: asyncio.Task[None] | None = None
        # Held while a poll publishes and while a subscriber catches up, so a resuming client
        # sees every event exactly once: replayed up to the hub's cursor, live after it.
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
        self, principal: Principal, last_event_id: str | None = None
    ) -> Subscription:
        """Start listening (and the poller with the first subscriber). With ``last_event_id``
        the events after it are replayed first. ``ConfigError`` for a malformed id;
        ``StoreError`` if the store is unreachable."""
        resume = None if last_event_id is None else Cursor.decode(last_event_id)
        sub = Subscription(principal)
        async with self._lock:
            if not self.polling:
                await self._prime()
            if resume is not None:
                for event in await self._replay(resume, self.cursor):
                    if sub.allows(event):
                        sub.queue.put_nowait(event)
            self._subscribers.append(sub)
            # Checked again: the last other subscriber may have left while this one primed.
            if not self.polling:
                self._task = asyncio.create_task(self._run(), name="tickwork-api-events")
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        """Stop listening; the poller stops with the last subscriber. Synchronous, so that a
        stream's cleanup can call it while its task is being cancelled."""
        with contextlib.suppress(ValueError):
            self._subscribers.remove(sub)
        if not self._subscribers and self._task is not None:
            self._task.cancel()
            self._task = None

    async def close(self) -> None:
        for sub in list(self._subscribers):
            self._drop(sub)
        self._subscribers.clear()
        await self._stop_polling()

    async def _stop_polling(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def _drop(self, sub: Subscription) -> None:
        if not sub.closed:
            sub.closed = True
            sub.queue.put_nowait(None)

    def _publish(self, events: Sequence[Event]) -> None:
        for sub in list(self._subscribers):
            if sub.closed:
                continue
            for event in events:
                if not sub.allows(event):
                    continue
                if sub.queue.qsize() >= self.max_backlog:
                    log.warning("an event stream fell %d events behind; closed", sub.queue.qsize())
                    self._drop(sub)
                    self._subscribers.remove(sub)
                    break
                sub.queue.put_nowait(event)

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
        self.cursor = Cursor(
            runs=runs[0].id if runs else 0,
            jobs=jobs[0].id if jobs else 0,
            audit=audit[0].id if audit else 0,
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
        created = await self.store.query_jobs(
            JobQuery(after_id=cursor.jobs, oldest_first=True, limit=self.batch)
        )
        for job in created:
            cursor = Cursor(cursor.runs, job.id, cursor.audit)
            events.append(Event(JOB_CREATED, job.created_at, job_created_data(job), cursor))
        for job in sorted(await self._running(), key=lambda j: j.id):
            if self._announce(job.id, job.attempt):
                data = run_started_data(job.id, job.task_name, job.attempt, job.worker_id)
                at = job.started_at or self.clock.now()
                events.append(Event(RUN_STARTED, at, data, cursor))
        finished = await self._runs_after(cursor.runs)
        for run in finished:
            cursor = Cursor(run.id, cursor.jobs, cursor.audit)
            if self._announce(run.job_id, run.attempt):
                data = run_started_data(run.job_id, run.task_name, run.attempt, run.worker_id)
                events.append(Event(RUN_STARTED, run.started_at, data, cursor))
            self._announced.pop((run.job_id, run.attempt), None)
            events.append(Event(RUN_FINISHED, run.finished_at, run_finished_data(run), cursor))
        changes, cursor = await self._changes(cursor, None)
        events.extend(changes)
        events.extend(await self._processor_events(cursor))
        self.cursor = cursor
        return events

    async def _runs_after(self, run_id: int) -> list[Run]:
        """Runs recorded after ``run_id``, in the order they were recorded."""
        # An id cursor needs an existing run; 0 (none seen yet) means from the start.
        after = run_id or None
        query = RunQuery(after_id=after, sort="id", ascending=True, limit=self.batch)
        return await self.store.query_runs(query)

    async def _changes(self, cursor: Cursor, upto: int | None) -> tuple[list[Event], Cursor]:
        entries = await self.store.query_audit(AuditQuery(after_id=cursor.audit, limit=self.batch))
        events = []
        for entry in sorted(entries, key=lambda e: e.id):
            if upto is not None and entry.id > upto:
                break
            cursor = Cursor(cursor.runs, cursor.jobs, entry.id)
            if entry.target_type in JOB_TARGET_TYPES:
                events.append(Event(JOB_CHANGED, entry.at, job_changed_data(entry), cursor))
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
            if state == "running":
                events.append(Event(PROCESSOR_UP, now, processor_data(info, state), cursor))
            elif before == "running":
                events.append(Event(PROCESSOR_DOWN, now, processor_data(info, state), cursor))
        self._processors = seen
        return events

    async def _replay(self, since: Cursor, upto: Cursor) -> list[Event]:
        """The replayable events after ``since`` up to ``upto`` (at most ``max_backlog``)."""
        events: list[Event] = []
        cursor = since
        while cursor.jobs < upto.jobs and len(events) < self.max_backlog:
            page = await self.store.query_jobs(
                JobQuery(after_id=cursor.jobs, oldest_first=True, limit=self.batch)
            )
            page = [j for j in page if j.id <= upto.jobs]
            if not page:
                break
            for job in page:
                cursor = Cursor(cursor.runs, job.id, cursor.audit)
                events.append(Event(JOB_CREATED, job.created_at, job_created_data(job), cursor))
        while cursor.runs < upto.runs and len(events) < self.max_backlog:
            runs = [r for r in await self._runs_after(cursor.runs) if r.id <= upto.runs]
            if not runs:
                break
            for run in runs:
                cursor = Cursor(run.id, cursor.jobs, cursor.audit)
                data = run_finished_data(run)
                events.append(Event(RUN_FINISHED, run.finished_at, data, cursor))
        while cursor.audit < upto.audit and len(events) < self.max_backlog:
            changes, moved = await self._changes(cursor, upto.audit)
            if moved == cursor:
                break
            cursor = moved
            events.extend(changes)
        return events[: self.max_backlog]

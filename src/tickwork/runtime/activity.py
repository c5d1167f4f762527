"""What a run tells while it runs: ``tickwork.progress(done, total)`` and
``tickwork.event(message, **data)``, and the ``::tickwork`` lines of shell jobs.

The worker binds each run to a ``RunScope`` (a context variable, like ``tickwork.report``'s) so
that a task reaches it from any code it runs: coroutines, its pool thread, an isolated child
(``executors.child`` forwards them over its protocol), a shell command's stdout. The scope
hands them to the process's ``ActivityRecorder``, which keeps per run at most
``MAX_EVENTS_PER_RUN`` rows, coalesces progress (the latest within each
``PROGRESS_INTERVAL_SECONDS`` wins) and writes what accumulated in one batch off the job's path.
A running attempt's output goes the same way, as pieces (``RunEventKind.OUTPUT``), so that
pages and the event feed show it while it runs; they are removed when the attempt ends.
A run that emits nothing costs one context-variable set; nothing is allocated or written for it.
Writing is best effort: a batch the store refuses is logged and dropped (results never are).
"""

from __future__ import annotations

import asyncio
import codecs
import contextlib
import json
import logging
import threading
from collections.abc import Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from tickwork.clock import Clock, SystemClock
from tickwork.domain.activity import (
    MAX_EVENTS_PER_RUN,
    OUTPUT_PIECE_BYTES,
    OUTPUT_PIECES_KEPT,
    PROGRESS_INTERVAL_SECONDS,
    NewRunEvent,
    OutputTrim,
    RunEventKind,
    clean_data,
    clean_message,
    clean_progress,
)

log = logging.getLogger("tickwork.activity")

# Shell jobs: a stdout line starting with this is a directive (see ``parse_directive``).
DIRECTIVE = b"::tickwork "
# A directive line longer than this is ordinary output.
MAX_DIRECTIVE_BYTES = 8192


class Emitter(Protocol):
    """Where the progress and events of the current run go (the worker's scope, or an isolated
    child's channel to its parent)."""

    def progress(self, done: float, total: float | None) -> None: ...

    def event(self, message: str, data: dict[str, Any] | None) -> None: ...


# The emitter of the run the current code belongs to; set by the worker around each run.
CURRENT_RUN: ContextVar[Emitter | None] = ContextVar("tickwork_run_activity", default=None)


def progress(done: float, total: float | None = None) -> None:
    """Report how far the current run is: ``done`` (of ``total``, if known).

    Recorded as the run's progress and pushed on the event feed (``run.progress``); calls
    closer than ``PROGRESS_INTERVAL_SECONDS`` are coalesced (the latest wins). Outside a run
    it does nothing. Raises TypeError/ValueError for figures that are not finite numbers >= 0.
    """
    checked_done, checked_total = clean_progress(done, total)
    current = CURRENT_RUN.get()
    if current is not None:
        current.progress(checked_done, checked_total)


def event(message: str, **data: Any) -> None:
    """Record an event of the current run: ``event("synced 40 repositories", processed=40)``.

    The message is cut to ``MAX_MESSAGE_BYTES``; ``data`` is stored as JSON (values that are
    not JSON as their text) unless it exceeds ``MAX_DATA_BYTES``, in which case a note says so.
    At most ``MAX_EVENTS_PER_RUN`` rows are kept per run. Outside a run it does nothing.
    """
    current = CURRENT_RUN.get()
    if current is not None:
        current.event(clean_message(message), clean_data(data))


# --- the worker's side ---------------------------------------------------------------------------
class EventWrites(Protocol):
    async def add_run_events(
        self, events: Sequence[NewRunEvent], trims: Sequence[OutputTrim] = ()
    ) -> None: ...


@dataclass
class _RunState:
    task_name: str
    kept: int = 0
    dropped: int = 0
    progress: NewRunEvent | None = None  # waiting for the next write (latest wins)
    output: bytearray | None = None  # output since the last write (its tail)
    output_cut: int = 0  # bytes of it left out (only a piece's worth is written)
    pieces: int = 0  # output pieces written
    decoder: codecs.IncrementalDecoder | None = None


class RunScope:
    """One run's emitter: the recorder and the run's identity (a plain class: one is made per
    run, and a frozen dataclass costs several times as much to build)."""

    __slots__ = ("attempt", "closed", "job_id", "recorder", "task_name")

    def __init__(self, recorder: ActivityRecorder, job_id: int, attempt: int, task_name: str):
        self.recorder = recorder
        self.job_id = job_id
        self.attempt = attempt
        self.task_name = task_name
        # The run ended: what its code still emits (a timed-out thread runs on) is ignored.
        self.closed = False

    def progress(self, done: float, total: float | None) -> None:
        self.recorder.add(self, RunEventKind.PROGRESS, None, done, total, None)

    def event(self, message: str, data: dict[str, Any] | None) -> None:
        self.recorder.add(self, RunEventKind.EVENT, message, None, None, data)

    def dropped(self, count: int) -> None:
        """Events the run emitted that never reached this process (an isolated child's cap)."""
        self.recorder.count_dropped(self, count)

    def output(self, data: bytes) -> None:
        """Output the run wrote (stdout or stderr, as it came)."""
        self.recorder.add_output(self, data)


@dataclass
class ActivityRecorder:
    """The run events of one worker process: kept within bounds, written in batches."""

    store: EventWrites
    clock: Clock = field(default_factory=SystemClock)
    flush_seconds: float = PROGRESS_INTERVAL_SECONDS
    max_per_run: int = MAX_EVENTS_PER_RUN

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._runs: dict[tuple[int, int], _RunState] = {}
        self._buffer: list[NewRunEvent] = []
        self._trims: list[OutputTrim] = []  # output pieces to remove (ended or too many)
        self._scheduled = False  # a write is due; set under the lock
        self._wake: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[None] | None = None
        self._write_lock = asyncio.Lock()
        self.written = 0  # rows written so far (tests, benchmarks)

    def scope(self, job_id: int, attempt: int, task_name: str) -> RunScope:
        return RunScope(self, job_id, attempt, task_name)

    # --- recording (any thread) -----------------------------------------------------------------
    def add(
        self,
        scope: RunScope,
        kind: RunEventKind,
        message: str | None,
        done: float | None,
        total: float | None,
        data: dict[str, Any] | None,
    ) -> None:
        if scope.closed:
            return
        row = NewRunEvent(
            scope.job_id,
            scope.attempt,
            scope.task_name,
            kind,
            self.clock.now(),
            message,
            done,
            total,
            data,
        )
        with self._lock:
            state = self._runs.get((scope.job_id, scope.attempt))
            if state is None:
                state = self._runs[(scope.job_id, scope.attempt)] = _RunState(scope.task_name)
            if kind is RunEventKind.PROGRESS:
                if state.progress is None:
                    if state.kept >= self.max_per_run:
                        state.dropped += 1
                        return
                    state.kept += 1  # the slot of the row this progress will become
                state.progress = row
            else:
                if state.kept >= self.max_per_run:
                    state.dropped += 1
                    return
                state.kept += 1
                self._buffer.append(row)
            wake = not self._scheduled
            self._scheduled = True
        if wake:
            self._signal()

    def add_output(self, scope: RunScope, data: bytes) -> None:
        if scope.closed or not data:
            return
        with self._lock:
            key = (scope.job_id, scope.attempt)
            state = self._runs.get(key)
            if state is None:
                state = self._runs[key] = _RunState(scope.task_name)
            if state.output is None:
                state.output = bytearray()
            state.output += data
            # Only a piece's worth is written per interval: trimming past twice that keeps
            # the copying cost amortised per byte.
            extra = len(state.output) - OUTPUT_PIECE_BYTES
            if extra > OUTPUT_PIECE_BYTES:
                del state.output[:extra]
                state.output_cut += extra
            wake = not self._scheduled
            self._scheduled = True
        if wake:
            self._signal()

    def count_dropped(self, scope: RunScope, count: int) -> None:
        with self._lock:
            key = (scope.job_id, scope.attempt)
            state = self._runs.setdefault(key, _RunState(scope.task_name))
            state.dropped += count

    def finish(self, scope: RunScope) -> None:
        """The run ended: its waiting progress is written, and a note of what was dropped."""
        scope.closed = True
        job_id, attempt = scope.job_id, scope.attempt
        if (job_id, attempt) not in self._runs:
            return  # it emitted nothing (the common case): no lock taken
        with self._lock:
            state = self._runs.pop((job_id, attempt), None)
            if state is None:
                return
            if state.pieces:  # its run holds the output now; output not yet written is not
                self._trims.append(OutputTrim(job_id, attempt, 0))
            if state.progress is not None:
                self._buffer.append(state.progress)
            if state.dropped:
                self._buffer.append(
                    NewRunEvent(
                        job_id,
                        attempt,
                        state.task_name,
                        RunEventKind.EVENT,
                        self.clock.now(),
                        f"{state.dropped} event(s) dropped: at most {self.max_per_run} are kept"
                        " per run",
                        data={"dropped": state.dropped},
                    )
                )
            due = bool(self._buffer or self._trims)
            wake = due and not self._scheduled
            self._scheduled = self._scheduled or due
        if wake:
            self._signal()

    def _signal(self) -> None:
        loop, wake = self._loop, self._wake
        if loop is None or wake is None:
            return  # not started: the rows wait for start() or flush()
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            wake.set()
        else:
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
                loop.call_soon_threadsafe(wake.set)

    def _take(self) -> tuple[list[NewRunEvent], list[OutputTrim]]:
        now = self.clock.now()
        with self._lock:
            batch, self._buffer = self._buffer, []
            trims, self._trims = self._trims, []
            for (job_id, attempt), state in self._runs.items():
                if state.progress is not None:
                    batch.append(state.progress)
                    state.progress = None
                if state.output:
                    batch.append(_piece(job_id, attempt, state, now))
                    if state.pieces > OUTPUT_PIECES_KEPT:
                        trims.append(OutputTrim(job_id, attempt, OUTPUT_PIECES_KEPT))
            self._scheduled = False
        return batch, trims

    # --- writing (the worker's loop) ------------------------------------------------------------
    async def start(self) -> None:
        if self._task is not None:
            return
        self._loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        if self._buffer or self._scheduled:
            self._wake.set()
        self._task = asyncio.create_task(self._run(), name="tickwork-activity")

    async def stop(self) -> None:
        """Write what is waiting, then stop."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self.flush()

    async def flush(self) -> None:
        """Write everything recorded so far now (waiting progress included)."""
        # One write at a time, each taking what came before it: IDs follow the order of events.
        async with self._write_lock:
            batch, trims = self._take()
            if batch or trims:
                await self._write(batch, trims)

    async def _run(self) -> None:
        assert self._wake is not None
        while True:
            await self._wake.wait()
            self._wake.clear()
            # Gather what comes in meanwhile: one write per interval, progress coalesced.
            await asyncio.sleep(self.flush_seconds)
            # Shielded: a stop must not cancel a write that holds its batch (stop then waits
            # for it and writes the rest).
            await asyncio.shield(self.flush())

    async def _write(self, batch: list[NewRunEvent], trims: list[OutputTrim]) -> None:
        try:
            await self.store.add_run_events(batch, trims)
        except Exception as exc:
            log.warning("could not write %d run event(s), dropped: %s", len(batch), exc)
            return
        self.written += len(batch)


def _piece(job_id: int, attempt: int, state: _RunState, now: datetime) -> NewRunEvent:
    """The output a run wrote since the last write, as one piece (its tail, the rest said)."""
    assert state.output is not None
    tail = bytes(state.output[-OUTPUT_PIECE_BYTES:])
    cut = state.output_cut + len(state.output) - len(tail)
    state.output.clear()
    state.output_cut = 0
    if state.decoder is None or cut:  # a cut may fall inside a character: start afresh
        state.decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    text = state.decoder.decode(tail)
    if cut:
        text = f"[... {cut} bytes not shown live ...]\n{text}"
    state.pieces += 1
    return NewRunEvent(job_id, attempt, state.task_name, RunEventKind.OUTPUT, now, text)


# --- shell jobs ----------------------------------------------------------------------------------
def parse_directive(line: bytes) -> tuple[str, Any] | None:
    """A ``::tickwork`` stdout line of a shell job → ("progress", (done, total)) or
    ("event", (message, data)); None when it is not a valid directive (it stays output).

    - ``::tickwork progress 3/10`` or ``::tickwork progress 3`` (no total)
    - ``::tickwork event synced 40 repositories`` (the rest of the line is the message)
    - ``::tickwork event {"message": "synced", "processed": 40, "failed": 2}`` (a JSON object:
      ``message`` and the data)
    """
    if not line.startswith(DIRECTIVE):
        return None
    text = line[len(DIRECTIVE) :].decode("utf-8", errors="replace").strip()
    verb, _, rest = text.partition(" ")
    rest = rest.strip()
    if verb == "progress":
        done_text, slash, total_text = rest.partition("/")
        try:
            done = float(done_text)
            total = float(total_text) if slash else None
            return "progress", clean_progress(done, total)
        except (TypeError, ValueError):
            return None
    if verb == "event" and rest:
        if rest.startswith("{"):
            try:
                body = json.loads(rest)
            except ValueError:
                return None
            if not isinstance(body, dict):
                return None
            message = body.pop("message", "")
            return "event", (clean_message(message), clean_data(body))
        return "event", (clean_message(rest), None)
    return None


class DirectiveScanner:
    """Finds the directive lines in a stream of stdout chunks (lines split across chunks
    included) and hands each to an emitter. The chunks themselves are not changed: directive
    lines stay in the run's output. Scanning costs a ``bytes.find`` per chunk."""

    __slots__ = ("_carry", "_emitter", "_mid_line")

    def __init__(self, emitter: Emitter) -> None:
        self._emitter = emitter
        self._carry = b""  # an unfinished line that is, or may become, a directive
        self._mid_line = False  # inside an unfinished line that is not one

    def feed(self, chunk: bytes) -> None:
        if self._mid_line:
            end = chunk.find(b"\n")
            if end < 0:
                return
            chunk = chunk[end + 1 :]
            self._mid_line = False
        data = self._carry + chunk if self._carry else chunk
        self._carry = b""
        pos = 0  # always at the start of a line
        while True:
            if not data.startswith(DIRECTIVE, pos):
                found = data.find(b"\n" + DIRECTIVE, pos)
                if found < 0:
                    break
                pos = found + 1
            end = data.find(b"\n", pos)
            if end < 0:
                rest = data[pos:]
                if len(rest) <= MAX_DIRECTIVE_BYTES:
                    self._carry = rest
                else:
                    self._mid_line = True
                return
            self._handle(data[pos:end])
            pos = end + 1
        last = data.rfind(b"\n")
        rest = data[last + 1 :]
        if rest:
            # A line start that may still become a directive ("::tick" + next chunk) is kept.
            if DIRECTIVE.startswith(rest):
                self._carry = rest
            else:
                self._mid_line = True

    def close(self) -> None:
        """The stream ended: a last directive without its newline counts too."""
        if self._carry:
            self._handle(self._carry)
            self._carry = b""

    def _handle(self, line: bytes) -> None:
        parsed = parse_directive(line.rstrip(b"\r"))
        if parsed is None:
            return
        verb, (first, second) = parsed
        if verb == "progress":
            self._emitter.progress(first, second)
        else:
            self._emitter.event(first, second)


def current_emitter() -> Emitter | None:
    """The emitter of the run this code belongs to, if any."""
    return CURRENT_RUN.get()

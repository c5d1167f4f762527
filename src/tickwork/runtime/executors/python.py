"""Running Python tasks: resolving ``module:function`` paths and calling them sync or async.

Failures are classified for the retry decision (``domain.policies.next_state_after``):

- ``tickwork.Retry``: error type ``Retry``, retried while attempts remain (``force_retry``),
  after ``Retry(after=...)`` when given; ``tickwork.Fail``: error type ``Fail``, class
  ``validation``, never retried.
- ``TimeoutError`` (the task's own): ``timeout``; ``ConnectionError``, socket address errors,
  OS errors with a network errno and httpx transport errors: ``network`` (httpx timeouts:
  ``timeout``); ``PermissionError``: ``auth``. All of these but ``auth`` are retried.
- Anything else (``ValueError``, ``KeyError``, ...) is ``unknown``: retried like the others
  while ``max_retries`` allow, unless the task's ``no_retry_on`` / ``retry_on`` say otherwise
  (they match the names in ``Outcome.error_types``: the exception's class and its bases).

Isolated tasks (``run(..., isolated=True)``) run in a child process
(``tickwork.runtime.executors.child``) that a timeout or a cancel kills with its whole group.
"""

from __future__ import annotations

import asyncio
import asyncio.base_events
import asyncio.futures
import asyncio.runners
import concurrent.futures
import concurrent.futures.thread
import contextlib
import contextvars
import dataclasses
import errno
import inspect
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import traceback
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from types import TracebackType
from typing import Any, cast

from tickwork.callables import resolve_callable
from tickwork.domain.activity import clean_data, clean_message, clean_progress
from tickwork.domain.jobs import ErrorClass, Outcome, ResourceUse
from tickwork.domain.processors import DEFAULT_MAX_CONCURRENT_JOBS, DEFAULT_OUTPUT_LIMIT_BYTES
from tickwork.domain.tasks import PythonTarget
from tickwork.errors import ConfigError, Fail, Retry
from tickwork.runtime.activity import CURRENT_RUN, Emitter, RunScope
from tickwork.runtime.executors.meters import ShareMeter, ThreadMeter, WorkerShare
from tickwork.runtime.executors.output import OutputTail, cap_output
from tickwork.runtime.executors.processes import (
    signal_group,
    signal_name,
    spawn_group,
    wait_event,
)
from tickwork.runtime.report import CURRENT_REPORT, RunReport

# As many threads as a worker runs jobs at most, unless told otherwise.
DEFAULT_MAX_THREADS = DEFAULT_MAX_CONCURRENT_JOBS
TRACEBACK_LIMIT_BYTES = 16384
RESULT_REPR_LIMIT_CHARS = 16384
CHILD_MODULE = "tickwork.runtime.executors.child"
# After an isolated child exited (or was killed), how long a grandchild may keep its pipes open.
CHILD_PIPE_DRAIN_SECONDS = 0.5
CHILD_REAP_SECONDS = 5.0
# Frames of this module and of the future/thread/event-loop plumbing say nothing about the bug.
_PLUMBING_FILES = frozenset(
    {
        __file__,
        asyncio.futures.__file__,
        asyncio.runners.__file__,
        asyncio.base_events.__file__,
        concurrent.futures.thread.__file__,
    }
)
_PLAIN_RESULT_TYPES = frozenset({str, int, bool})
# Errnos of OSErrors that mean "the network", beyond ConnectionError's subclasses.
_NETWORK_ERRNOS = frozenset(
    getattr(errno, name)
    for name in (
        "ENETDOWN",
        "ENETUNREACH",
        "ENETRESET",
        "EHOSTDOWN",
        "EHOSTUNREACH",
        "EADDRNOTAVAIL",
        "ECONNABORTED",
        "ECONNREFUSED",
        "ECONNRESET",
        "ETIMEDOUT",
    )
    if hasattr(errno, name)
)


class PythonExecutor:
    """Calls Python tasks: coroutines on the event loop, plain functions in a bounded pool, and
    isolated tasks in a child process.

    ``busy_after_timeout`` counts calls of plain functions that were abandoned (timed out or
    cancelled) while their thread still runs: a thread cannot be stopped, so each one occupies
    a pool slot until the function returns (the count then goes down again).
    """

    def __init__(
        self,
        resolve: Callable[[str], Callable[..., Any]] = resolve_callable,
        *,
        max_threads: int = DEFAULT_MAX_THREADS,
        output_limit: int = DEFAULT_OUTPUT_LIMIT_BYTES,
    ) -> None:
        self._resolve = resolve
        self._pool = ThreadPoolExecutor(max_workers=max_threads, thread_name_prefix="tickwork-task")
        # path -> (callable, runs on the loop); resolving and inspecting once keeps runs cheap.
        self._resolved: dict[str, tuple[Callable[..., Any], bool]] = {}
        self._output_limit = output_limit  # stderr tail kept of an isolated child
        self._busy_lock = threading.Lock()
        self._busy_after_timeout = 0
        self._share = WorkerShare()

    @property
    def busy_after_timeout(self) -> int:
        """Abandoned calls whose thread is still running (each holds a pool thread)."""
        return self._busy_after_timeout

    def resolve(self, path: str) -> Callable[..., Any]:
        """The callable at ``path`` through this executor's resolver (e.g. a task's guard).

        Raises ConfigError when it cannot be imported or is not callable.
        """
        return self._resolve(path)

    def close(self) -> None:
        # Threads of timed-out tasks cannot be stopped; waiting for them could block forever.
        self._pool.shutdown(wait=False, cancel_futures=True)

    async def run(
        self,
        target: PythonTarget,
        args: list[Any],
        kwargs: dict[str, Any],
        timeout_seconds: float | None,
        *,
        isolated: bool = False,
    ) -> Outcome:
        if isolated:
            return await self._run_isolated(target, args, kwargs, timeout_seconds)
        entry = self._resolved.get(target.path)
        if entry is None:
            try:
                func = self._resolve(target.path)
            except ConfigError as exc:
                return Outcome.failure("ConfigError", str(exc), error_class=ErrorClass.CONFIG)
            entry = self._resolved[target.path] = (func, _is_async(func))
        func, on_loop = entry

        run_report = RunReport()
        # Set and reset by hand: a context manager would cost as much as a no-op run itself.
        token = CURRENT_REPORT.set(run_report)
        meter: ShareMeter | ThreadMeter = ShareMeter(self._share) if on_loop else ThreadMeter()
        try:
            try:
                if timeout_seconds is None:
                    # No timeout context at all: this path carries the no-op benchmark.
                    if on_loop:
                        value = await func(*args, **kwargs)
                    else:
                        value = await self._call_in_thread(
                            func, args, kwargs, cast(ThreadMeter, meter)
                        )
                else:
                    deadline = asyncio.timeout(timeout_seconds)
                    try:
                        async with deadline:
                            if on_loop:
                                value = await func(*args, **kwargs)
                            else:
                                # On expiry only our wait is cancelled: a thread cannot be
                                # killed and runs on, occupying a pool slot, until it returns.
                                value = await self._call_in_thread(
                                    func, args, kwargs, cast(ThreadMeter, meter)
                                )
                    except TimeoutError:
                        if deadline.expired():
                            return Outcome.timed_out(
                                timeout_seconds,
                                metrics=run_report.snapshot(),
                                resources=meter.stop(),
                            )
                        raise  # the task's own TimeoutError: an ordinary failure
            except (Exception, SystemExit) as exc:
                # SystemExit too: a task calling sys.exit() must not stop the worker.
                return outcome_for_exception(exc, run_report.snapshot(), resources=meter.stop())
            return Outcome.success(
                result=_storable(value), metrics=run_report.snapshot(), resources=meter.stop()
            )
        finally:
            meter.stop()  # cancelled: the share must still end
            CURRENT_REPORT.reset(token)

    async def _call_in_thread(
        self,
        func: Callable[..., Any],
        args: list[Any],
        kwargs: dict[str, Any],
        meter: ThreadMeter,
    ) -> Any:
        # The thread runs in a copy of this context, so that report() finds the run's report.
        context = contextvars.copy_context()
        future = self._pool.submit(context.run, meter.call, func, args, kwargs)
        try:
            value = await asyncio.wrap_future(future)
        except asyncio.CancelledError:
            self._abandon(future)
            raise
        # A wrapper that is not itself a coroutine function may still hand back a coroutine.
        if inspect.isawaitable(value):
            value = await value
        return value

    def _abandon(self, future: concurrent.futures.Future[Any]) -> None:
        """Count the thread of an abandoned call as busy until its function returns."""
        if future.cancel() or future.done():
            return  # it never started, or it has just ended
        with self._busy_lock:
            self._busy_after_timeout += 1
        future.add_done_callback(self._thread_ended)

    def _thread_ended(self, _future: concurrent.futures.Future[Any]) -> None:
        with self._busy_lock:
            self._busy_after_timeout -= 1

    async def _run_isolated(
        self,
        target: PythonTarget,
        args: list[Any],
        kwargs: dict[str, Any],
        timeout_seconds: float | None,
    ) -> Outcome:
        try:
            payload = json.dumps(
                {"path": target.path, "args": args, "kwargs": kwargs}, allow_nan=False
            ).encode()
        except (TypeError, ValueError) as exc:
            return Outcome.failure(
                type(exc).__name__,
                f"the arguments of an isolated task must be JSON: {exc}",
                error_class=ErrorClass.CONFIG,
            )
        emitter = CURRENT_RUN.get()  # the child's progress and events go to the run's scope
        proto = _ChildProtocol(self._output_limit, emitter)
        try:
            transport = await spawn_group(
                proto,
                (sys.executable, "-m", CHILD_MODULE),
                stdin=subprocess.PIPE,
                # The child resolves module paths like this process: same cwd and sys.path.
                cwd=os.getcwd(),
                env=child_environment(),
            )
        except OSError as exc:
            return Outcome.failure(
                type(exc).__name__,
                f"cannot start the child process of an isolated task: {exc}",
                error_class=ErrorClass.UNKNOWN,
            )

        pgid = transport.get_pid()
        try:
            stdin = transport.get_pipe_transport(0)
            assert isinstance(stdin, asyncio.WriteTransport)
            stdin.write(payload)
            stdin.close()  # flushes first; the child reads to the end
            try:
                async with asyncio.timeout(timeout_seconds):
                    await proto.exited.wait()
            except TimeoutError:
                assert timeout_seconds is not None  # only a deadline can expire
                signal_group(pgid, signal.SIGKILL)
                await wait_event(proto.exited, CHILD_REAP_SECONDS)
                await wait_event(proto.finished, CHILD_PIPE_DRAIN_SECONDS)
                return Outcome.timed_out(
                    timeout_seconds,
                    output=proto.output(),
                    metrics=proto.metrics,
                    resources=transport.resources(),  # killed: it could not tell its peak
                )
            await wait_event(proto.finished, CHILD_PIPE_DRAIN_SECONDS)
        except BaseException:
            # Cancelled (or failing) mid-run: leave nothing of the task behind.
            signal_group(pgid, signal.SIGKILL)
            raise
        finally:
            transport.close()
        return dataclasses.replace(
            proto.outcome(transport.get_returncode()),
            resources=transport.resources(proto.peak_bytes()),
        )


def _is_async(func: Callable[..., Any]) -> bool:
    if inspect.iscoroutinefunction(func):
        return True
    # An instance whose class defines ``async def __call__``; every callable's type has one.
    return inspect.iscoroutinefunction(type(func).__call__)


def _storable(value: Any) -> Any:
    """``value`` if it survives JSON storage unchanged enough, else its (capped) repr."""
    if value is None or type(value) in _PLAIN_RESULT_TYPES:
        return value
    try:
        # NaN and Infinity are rejected: PostgreSQL's JSON types do not accept them.
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError, RecursionError):
        return _capped_repr(value)
    return value


def _capped_repr(value: Any) -> str:
    try:
        text = repr(value)
    except Exception:
        return f"<unrepresentable {type(value).__name__}>"
    if len(text) <= RESULT_REPR_LIMIT_CHARS:
        return text
    dropped = len(text) - RESULT_REPR_LIMIT_CHARS
    return f"{text[:RESULT_REPR_LIMIT_CHARS]}[... {dropped} characters truncated ...]"


def classify_exception(exc: BaseException) -> ErrorClass:
    """The error class of an exception a task raised (see the module docstring)."""
    if isinstance(exc, Fail):
        return ErrorClass.VALIDATION
    if isinstance(exc, TimeoutError) or _is_httpx(exc, "TimeoutException"):
        return ErrorClass.TIMEOUT
    if isinstance(exc, PermissionError):
        return ErrorClass.AUTH
    if isinstance(exc, ConnectionError | socket.gaierror | socket.herror):
        return ErrorClass.NETWORK
    if isinstance(exc, OSError) and exc.errno in _NETWORK_ERRNOS:
        return ErrorClass.NETWORK
    if _is_httpx(exc, "TransportError"):
        return ErrorClass.NETWORK
    return ErrorClass.UNKNOWN


def outcome_for_exception(
    exc: BaseException,
    metrics: dict[str, Any] | None = None,
    *,
    skip_files: Iterable[str] = (),
    resources: ResourceUse | None = None,
) -> Outcome:
    """The failed Outcome of a task that raised ``exc``."""
    tb = _format_traceback(exc, skip_files)
    if isinstance(exc, Retry):
        return Outcome.failure(
            "Retry",
            exc.reason or "the task asked to be retried",
            error_class=ErrorClass.UNKNOWN,
            traceback=tb,
            metrics=metrics,
            retry_after_seconds=exc.after,
            force_retry=True,
            error_types=exception_names(exc),
            resources=resources,
        )
    if isinstance(exc, Fail):
        return Outcome.failure(
            "Fail",
            exc.reason,
            error_class=ErrorClass.VALIDATION,
            traceback=tb,
            metrics=metrics,
            error_types=exception_names(exc),
            resources=resources,
        )
    return Outcome.failure(
        type(exc).__name__,
        str(exc),
        error_class=classify_exception(exc),
        traceback=tb,
        metrics=metrics,
        error_types=exception_names(exc),
        resources=resources,
    )


def exception_names(exc: BaseException) -> tuple[str, ...]:
    """The names a task's ``retry_on`` / ``no_retry_on`` may use for ``exc``: its class and
    every base, each plain (``ValueError``) and module-qualified (``builtins.ValueError``)."""
    names: list[str] = []
    for cls in type(exc).__mro__[:-1]:  # all but ``object``
        names += (cls.__name__, f"{cls.__module__}.{cls.__qualname__}")
    return tuple(names)


def _is_httpx(exc: BaseException, class_name: str) -> bool:
    # By name: httpx is optional here, and importing it costs a task that never uses it.
    return any(
        cls.__name__ == class_name and cls.__module__.partition(".")[0] == "httpx"
        for cls in type(exc).__mro__
    )


def child_environment() -> dict[str, str]:
    """The environment of an isolated child: ours, with our ``sys.path`` as its PYTHONPATH."""
    env = dict(os.environ)
    paths: list[str] = []
    for entry in sys.path:
        path = os.path.abspath(entry or os.curdir)  # "" is the working directory
        if path not in paths:
            paths.append(path)
    env["PYTHONPATH"] = os.pathsep.join(paths)
    return env


class _ChildProtocol:
    """Reads an isolated child: JSON lines on stdout (metrics and progress updates, events, then
    the result) and the tail of stderr (the task's own output, its prints included)."""

    def __init__(self, limit: int, emitter: Emitter | None = None) -> None:
        self.emitter = emitter
        self.stderr = OutputTail(limit)
        self._pending = bytearray()
        self.metrics: dict[str, Any] | None = None
        self.result: dict[str, Any] | None = None
        self.exited = asyncio.Event()
        self.finished = asyncio.Event()  # exited and every pipe closed

    def pipe_data_received(self, fd: int, data: bytes) -> None:
        if fd != 1:
            self.stderr.feed(data)
            if isinstance(self.emitter, RunScope):  # shown while it runs
                self.emitter.output(data)
            return
        self._pending += data
        end = self._pending.rfind(b"\n")
        if end < 0:
            return
        lines = bytes(self._pending[:end]).split(b"\n")
        del self._pending[: end + 1]
        for line in lines:
            self._message(line)

    def _message(self, line: bytes) -> None:
        try:
            message = json.loads(line)
        except ValueError:
            return  # not ours (the child sends only JSON lines)
        if not isinstance(message, dict):
            return
        metrics = message.get("metrics")
        if isinstance(metrics, dict):
            self.metrics = metrics
        if self.emitter is not None:
            self._activity(message, self.emitter)
        if "ok" in message:
            self.result = message

    @staticmethod
    def _activity(message: dict[str, Any], emitter: Emitter) -> None:
        # Checked again here: the child is the task's code, and may be anything.
        progress = message.get("progress")
        if isinstance(progress, list) and len(progress) == 2:
            with contextlib.suppress(TypeError, ValueError):
                emitter.progress(*clean_progress(progress[0], progress[1]))
        event = message.get("event")
        if isinstance(event, dict):
            data = event.get("data")
            emitter.event(
                clean_message(event.get("message", "")),
                clean_data(data) if isinstance(data, dict) else None,
            )
        dropped = message.get("events_dropped")
        if isinstance(dropped, int) and dropped > 0 and isinstance(emitter, RunScope):
            emitter.dropped(dropped)

    def process_exited(self) -> None:
        self.exited.set()

    def connection_lost(self, exc: Exception | None) -> None:
        self.exited.set()
        self.finished.set()

    def output(self) -> str | None:
        return self.stderr.text() if self.stderr.total else None

    def peak_bytes(self) -> int | None:
        """The child's own peak RSS, as its result said."""
        peak = (self.result or {}).get("peak_bytes")
        return peak if isinstance(peak, int) else None

    def outcome(self, exit_code: int | None) -> Outcome:
        output = self.output()
        message = self.result
        if message is None:
            if exit_code is not None and exit_code < 0:
                why = f"was killed by signal {signal_name(-exit_code)}"
            else:
                why = f"exited with status {exit_code} without a result"
            return Outcome.failure(
                "ChildDied",
                f"the child process of the isolated task {why}",
                error_class=ErrorClass.UNKNOWN,
                exit_code=exit_code,
                output=output,
                metrics=self.metrics,
            )
        if message.get("ok"):
            return Outcome.success(message.get("result"), output=output, metrics=self.metrics)
        try:
            error_class = ErrorClass(str(message.get("error_class")))
        except ValueError:
            error_class = ErrorClass.UNKNOWN
        retry_after = message.get("retry_after")
        names = message.get("error_types")
        return Outcome.failure(
            str(message.get("error_type") or "Exception"),
            str(message.get("message") or ""),
            error_class=error_class,
            traceback=message.get("traceback"),
            output=output,
            metrics=self.metrics,
            retry_after_seconds=float(retry_after) if retry_after is not None else None,
            force_retry=message.get("kind") == "retry",
            error_types=tuple(str(n) for n in names) if isinstance(names, list) else (),
        )


def _format_traceback(exc: BaseException, skip_files: Iterable[str] = ()) -> str:
    skip = _PLUMBING_FILES.union(skip_files)
    tb: TracebackType | None = exc.__traceback__
    while tb is not None and tb.tb_frame.f_code.co_filename in skip:
        tb = tb.tb_next
    text = "".join(traceback.format_exception(type(exc), exc, tb or exc.__traceback__))
    return cap_output(text.encode("utf-8", errors="replace"), TRACEBACK_LIMIT_BYTES)

"""The child process of an isolated Python task: ``python -m tickwork.runtime.executors.child``.

Protocol (see ``PythonExecutor._run_isolated``): the parent writes one JSON object
``{"path", "args", "kwargs"}`` on stdin and closes it. The child imports and calls the task (a
coroutine function, or a sync function returning an awaitable, runs under ``asyncio.run``) and
writes JSON lines on its stdout:

- ``{"metrics": {...}}`` whenever the task called ``tickwork.report`` (at most every
  ``METRICS_INTERVAL_SECONDS``), so a killed child still leaves its partial results; with
  ``"progress": [done, total]`` when it called ``tickwork.progress`` meanwhile (the latest);
- ``{"event": {"message", "data"}}`` for each ``tickwork.event`` (at most
  ``MAX_EVENTS_PER_RUN``; the result message counts the rest as ``events_dropped``);
- last, the result: ``{"ok": true, "result", "metrics"}`` or ``{"ok": false, "kind",
  "error_type", "error_class", "message", "traceback", "metrics", "retry_after"}`` where
  ``kind`` is ``"retry"`` (``tickwork.Retry``), ``"fail"`` (``tickwork.Fail``), ``"config"``
  (the task cannot be imported) or ``"error"``; both with ``"peak_bytes"``, the child's own
  peak RSS where it can tell (``processes.own_peak_bytes``).

The task's own output, at the Python level (``print``) and at the file-descriptor level
(C extensions, subprocesses), goes to stderr so that it cannot corrupt the protocol; the parent
keeps its tail as the run's output.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import json
import os
import sys
import threading
from typing import IO, Any, NoReturn

from tickwork.callables import resolve_callable
from tickwork.domain.activity import MAX_EVENTS_PER_RUN
from tickwork.domain.jobs import ErrorClass
from tickwork.errors import ConfigError, Fail, Retry
from tickwork.runtime.activity import CURRENT_RUN
from tickwork.runtime.executors.processes import own_peak_bytes
from tickwork.runtime.executors.python import _is_async, _storable, outcome_for_exception
from tickwork.runtime.report import RunReport, reporting

METRICS_INTERVAL_SECONDS = 0.1


class _Channel:
    """The protocol's stdout: whole JSON lines, from the main thread and the metrics thread."""

    def __init__(self, stream: IO[bytes]) -> None:
        self._stream = stream
        self._lock = threading.Lock()

    def send(self, message: dict[str, Any]) -> None:
        try:
            line = json.dumps(message, allow_nan=False, default=repr)
        except ValueError:  # a non-finite float; the parent reads Infinity/NaN as well
            line = json.dumps(message, default=repr)
        data = line.encode("utf-8", errors="replace") + b"\n"
        with self._lock:
            self._stream.write(data)
            self._stream.flush()


class _Emitter:
    """The run's progress and events, sent to the parent (``runtime.activity.Emitter``)."""

    def __init__(self, channel: _Channel, dirty: threading.Event) -> None:
        self._channel = channel
        self._dirty = dirty
        self._lock = threading.Lock()
        self._progress: tuple[float, float | None] | None = None
        self._sent = 0
        self.dropped = 0

    def progress(self, done: float, total: float | None) -> None:
        with self._lock:
            self._progress = (done, total)
        self._dirty.set()  # sent by the metrics thread: coalesced, the latest wins

    def event(self, message: str, data: dict[str, Any] | None) -> None:
        with self._lock:
            if self._sent >= MAX_EVENTS_PER_RUN:
                self.dropped += 1
                return
            self._sent += 1
            self._channel.send({"event": {"message": message, "data": data}})

    def send_update(self, metrics: dict[str, Any] | None) -> None:
        """Metrics and the waiting progress, in one line (under the lock: never out of order)."""
        with self._lock:
            message: dict[str, Any] = {"metrics": metrics}
            if self._progress is not None:
                message["progress"] = list(self._progress)
                self._progress = None
            self._channel.send(message)


def main() -> None:
    # Keep the real stdout for the protocol; from now on fd 1 is stderr.
    channel = _Channel(os.fdopen(os.dup(1), "wb"))
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    try:
        request = json.loads(sys.stdin.buffer.read())
        path, args, kwargs = request["path"], request["args"], request["kwargs"]
    except (ValueError, KeyError, TypeError) as exc:
        channel.send(_error("config", "ProtocolError", "config", f"bad request: {exc!r}"))
        _exit(2)
    message = run(path, list(args), dict(kwargs), channel)
    message["peak_bytes"] = own_peak_bytes()
    channel.send(message)
    _exit(0)


def run(path: str, args: list[Any], kwargs: dict[str, Any], channel: _Channel) -> dict[str, Any]:
    """Call the task at ``path``; the result message (metrics updates go to ``channel``)."""
    dirty = threading.Event()
    run_report = RunReport(on_change=dirty.set)
    emitter = _Emitter(channel, dirty)

    def stream_metrics() -> None:
        while True:
            dirty.wait()
            dirty.clear()
            emitter.send_update(run_report.snapshot())
            threading.Event().wait(METRICS_INTERVAL_SECONDS)

    threading.Thread(target=stream_metrics, name="tickwork-metrics", daemon=True).start()
    CURRENT_RUN.set(emitter)
    result = _call(path, args, kwargs, run_report)
    emitter.send_update(run_report.snapshot())  # the last progress, before the result
    result["events_dropped"] = emitter.dropped
    return result


def _call(
    path: str, args: list[Any], kwargs: dict[str, Any], run_report: RunReport
) -> dict[str, Any]:
    with reporting(run_report):
        try:
            func = resolve_callable(path)
        except ConfigError as exc:
            return _error("config", "ConfigError", ErrorClass.CONFIG.value, str(exc))
        try:
            if _is_async(func):
                value = asyncio.run(func(*args, **kwargs))
            else:
                value = func(*args, **kwargs)
                if inspect.isawaitable(value):
                    value = asyncio.run(_wait_for(value))
        except (Exception, SystemExit) as exc:
            # SystemExit too: sys.exit() in a task is a failure with a traceback, as in-process.
            outcome = outcome_for_exception(exc, run_report.snapshot(), skip_files=(__file__,))
            if isinstance(exc, Retry):
                kind = "retry"
            elif isinstance(exc, Fail):
                kind = "fail"
            else:
                kind = "error"
            message = _error(
                kind,
                outcome.error_type or type(exc).__name__,
                (outcome.error_class or ErrorClass.UNKNOWN).value,
                outcome.error_message or "",
            )
            message.update(
                traceback=outcome.traceback,
                metrics=outcome.metrics,
                retry_after=outcome.retry_after_seconds,
                error_types=list(outcome.error_types),
            )
            return message
    return {"ok": True, "result": _storable(value), "metrics": run_report.snapshot()}


async def _wait_for(awaitable: Any) -> Any:
    return await awaitable


def _error(kind: str, error_type: str, error_class: str, message: str) -> dict[str, Any]:
    return {
        "ok": False,
        "kind": kind,
        "error_type": error_type,
        "error_class": error_class,
        "message": message,
        "traceback": None,
        "metrics": None,
        "retry_after": None,
    }


def _exit(code: int) -> NoReturn:
    # os._exit: threads the task left behind must not keep the child (and its run) alive.
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):
            stream.flush()
    os._exit(code)


if __name__ == "__main__":
    main()

"""Running Python tasks: resolving ``module:function`` paths and calling them sync or async."""

from __future__ import annotations

import asyncio
import asyncio.futures
import concurrent.futures.thread
import functools
import importlib
import inspect
import json
import traceback
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from types import TracebackType
from typing import Any

from tickwork.domain.jobs import ErrorClass, Outcome
from tickwork.domain.tasks import PythonTarget
from tickwork.errors import ConfigError
from tickwork.runtime.executors.output import cap_output

DEFAULT_MAX_THREADS = 20
TRACEBACK_LIMIT_BYTES = 16384
RESULT_REPR_LIMIT_CHARS = 16384
# Frames of this module and of the future/thread plumbing say nothing about the user's bug.
_PLUMBING_FILES = frozenset(
    {__file__, asyncio.futures.__file__, concurrent.futures.thread.__file__}
)
_PLAIN_RESULT_TYPES = frozenset({str, int, bool})


def import_object(path: str, *, what: str = "task", field: str = "task") -> Any:
    """The object named by ``package.module:attr`` (``attr`` may be dotted, ``Class.method``)."""
    module_name, _, attr_path = path.partition(":")
    if not module_name or not attr_path:
        raise ConfigError(
            f"cannot import {what} {path!r}: expected 'package.module:name'", field=field
        )
    try:
        obj: Any = importlib.import_module(module_name)
    except Exception as exc:
        # Also errors raised while the module runs: either way the object cannot be used.
        raise ConfigError(
            f"cannot import {what} {path!r}: {type(exc).__name__}: {exc}", field=field
        ) from exc
    owner = module_name
    for name in attr_path.split("."):
        try:
            obj = getattr(obj, name)
        except AttributeError as exc:
            raise ConfigError(
                f"cannot import {what} {path!r}: {owner!r} has no attribute {name!r}",
                field=field,
            ) from exc
        owner = f"{owner}.{name}"
    return obj


def resolve_callable(path: str) -> Callable[..., Any]:
    """The callable named by ``package.module:attr`` (``attr`` may be dotted, ``Class.method``)."""
    obj = import_object(path)
    if not callable(obj):
        raise ConfigError(
            f"cannot import task {path!r}: {type(obj).__name__} object is not callable",
            field="task",
        )
    return obj  # type: ignore[no-any-return]


class PythonExecutor:
    """Calls Python tasks: coroutines on the event loop, plain functions in a bounded pool."""

    def __init__(
        self,
        resolve: Callable[[str], Callable[..., Any]] = resolve_callable,
        *,
        max_threads: int = DEFAULT_MAX_THREADS,
    ) -> None:
        self._resolve = resolve
        self._pool = ThreadPoolExecutor(max_workers=max_threads, thread_name_prefix="tickwork-task")
        # path -> (callable, runs on the loop); resolving and inspecting once keeps runs cheap.
        self._resolved: dict[str, tuple[Callable[..., Any], bool]] = {}

    def close(self) -> None:
        # Threads of timed-out tasks cannot be stopped; waiting for them could block forever.
        self._pool.shutdown(wait=False, cancel_futures=True)

    async def run(
        self,
        target: PythonTarget,
        args: list[Any],
        kwargs: dict[str, Any],
        timeout_seconds: float | None,
    ) -> Outcome:
        entry = self._resolved.get(target.path)
        if entry is None:
            try:
                func = self._resolve(target.path)
            except ConfigError as exc:
                return Outcome.failure("ConfigError", str(exc), error_class=ErrorClass.CONFIG)
            entry = self._resolved[target.path] = (func, _is_async(func))
        func, on_loop = entry

        try:
            if timeout_seconds is None:
                # No timeout context at all: this path carries the no-op benchmark.
                if on_loop:
                    value = await func(*args, **kwargs)
                else:
                    value = await self._call_in_thread(func, args, kwargs)
            else:
                deadline = asyncio.timeout(timeout_seconds)
                try:
                    async with deadline:
                        if on_loop:
                            value = await func(*args, **kwargs)
                        else:
                            # On expiry only our wait is cancelled: a thread cannot be killed and
                            # runs on, occupying a pool slot, until the function returns.
                            value = await self._call_in_thread(func, args, kwargs)
                except TimeoutError:
                    if deadline.expired():
                        return Outcome.timed_out(timeout_seconds)
                    raise  # the task's own TimeoutError: an ordinary failure
        except (Exception, SystemExit) as exc:
            # SystemExit too: a task calling sys.exit() must not stop the worker.
            return Outcome.failure(
                type(exc).__name__,
                str(exc),
                traceback=_format_traceback(exc),
                error_class=ErrorClass.UNKNOWN,
            )
        return Outcome.success(result=_storable(value))

    async def _call_in_thread(
        self, func: Callable[..., Any], args: list[Any], kwargs: dict[str, Any]
    ) -> Any:
        loop = asyncio.get_running_loop()
        value = await loop.run_in_executor(self._pool, functools.partial(func, *args, **kwargs))
        # A wrapper that is not itself a coroutine function may still hand back a coroutine.
        if inspect.isawaitable(value):
            value = await value
        return value


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


def _format_traceback(exc: BaseException) -> str:
    tb: TracebackType | None = exc.__traceback__
    while tb is not None and tb.tb_frame.f_code.co_filename in _PLUMBING_FILES:
        tb = tb.tb_next
    text = "".join(traceback.format_exception(type(exc), exc, tb or exc.__traceback__))
    return cap_output(text.encode("utf-8", errors="replace"), TRACEBACK_LIMIT_BYTES)

"""Python executor: resolving paths, sync and async calls, failures, timeouts, results."""

from __future__ import annotations

import importlib
import sys
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from tickwork.callables import resolve_callable
from tickwork.domain.jobs import ErrorClass, RunStatus
from tickwork.domain.tasks import PythonTarget
from tickwork.errors import ConfigError
from tickwork.runtime.executors.python import PythonExecutor

# The helpers are imported by path like real tasks; make that independent of pytest's import mode.
_HERE = str(Path(__file__).parent)
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)
sample_tasks = importlib.import_module("sample_tasks")


@pytest.fixture
async def executor() -> AsyncIterator[PythonExecutor]:
    ex = PythonExecutor()
    yield ex
    ex.close()


def target(name: str) -> PythonTarget:
    return PythonTarget(f"sample_tasks:{name}")


async def test_sync_function_returns_its_value(executor: PythonExecutor) -> None:
    outcome = await executor.run(target("add"), [2], {"b": 3}, None)
    assert outcome.status is RunStatus.SUCCEEDED
    assert outcome.result == 5


async def test_async_function_is_awaited(executor: PythonExecutor) -> None:
    outcome = await executor.run(target("async_add"), [2, 3], {}, 1.0)
    assert outcome.status is RunStatus.SUCCEEDED
    assert outcome.result == 5


async def test_dotted_attribute_and_async_callable_instance(executor: PythonExecutor) -> None:
    hello = await executor.run(target("Greeter.hello"), ["bob"], {}, None)
    assert hello.result == "hello bob"
    doubled = await executor.run(target("doubler"), [21], {}, None)
    assert doubled.result == 42


async def test_sync_wrapper_returning_a_coroutine_is_awaited(executor: PythonExecutor) -> None:
    outcome = await executor.run(target("returns_coroutine"), [1], {}, 1.0)
    assert outcome.result == 2


async def test_exception_becomes_failure_with_user_traceback(executor: PythonExecutor) -> None:
    outcome = await executor.run(target("fail"), ["boom"], {}, None)
    assert outcome.status is RunStatus.FAILED
    assert outcome.error_type == "ValueError"
    assert outcome.error_message == "boom"
    assert outcome.error_class is ErrorClass.UNKNOWN
    assert outcome.traceback is not None
    assert "sample_tasks.py" in outcome.traceback
    assert "raise ValueError(message)" in outcome.traceback
    assert "_call_in_thread" not in outcome.traceback  # executor plumbing is trimmed


async def test_async_exception_becomes_failure(executor: PythonExecutor) -> None:
    outcome = await executor.run(target("async_fail"), ["bad"], {}, 1.0)
    assert outcome.error_type == "RuntimeError"
    assert outcome.traceback is not None and "async_fail" in outcome.traceback


async def test_sys_exit_in_a_task_is_a_failure(executor: PythonExecutor) -> None:
    outcome = await executor.run(target("call_exit"), [], {}, None)
    assert outcome.status is RunStatus.FAILED
    assert outcome.error_type == "SystemExit"


async def test_async_timeout_cancels_the_coroutine(executor: PythonExecutor) -> None:
    sample_tasks.CANCELLED.clear()
    started = time.monotonic()
    outcome = await executor.run(target("sleep_until_cancelled"), ["t1"], {}, 0.2)
    assert time.monotonic() - started < 2
    assert outcome.status is RunStatus.TIMEOUT
    assert outcome.error_class is ErrorClass.TIMEOUT
    assert sample_tasks.CANCELLED == ["t1"]


async def test_sync_timeout_returns_while_the_thread_runs_on(executor: PythonExecutor) -> None:
    sample_tasks.RELEASE.clear()
    try:
        started = time.monotonic()
        outcome = await executor.run(target("block_until_released"), [], {}, 0.2)
        assert time.monotonic() - started < 2
        assert outcome.status is RunStatus.TIMEOUT
    finally:
        sample_tasks.RELEASE.set()


async def test_task_raising_timeout_error_itself_is_a_failure(executor: PythonExecutor) -> None:
    outcome = await executor.run(target("raise_own_timeout"), [], {}, 5.0)
    assert outcome.status is RunStatus.FAILED
    assert outcome.error_type == "TimeoutError"


async def test_unimportable_module_is_a_config_failure(executor: PythonExecutor) -> None:
    outcome = await executor.run(PythonTarget("no_such_module_xyz:run"), [], {}, None)
    assert outcome.status is RunStatus.FAILED
    assert outcome.error_type == "ConfigError"
    assert outcome.error_class is ErrorClass.CONFIG
    assert outcome.error_message is not None
    assert "cannot import task 'no_such_module_xyz:run'" in outcome.error_message


async def test_missing_and_non_callable_attributes_are_config_failures(
    executor: PythonExecutor,
) -> None:
    missing = await executor.run(target("nope"), [], {}, None)
    assert missing.error_class is ErrorClass.CONFIG
    assert missing.error_message is not None and "no attribute 'nope'" in missing.error_message
    not_callable = await executor.run(target("NOT_CALLABLE"), [], {}, None)
    assert not_callable.error_class is ErrorClass.CONFIG
    assert not_callable.error_message is not None
    assert "not callable" in not_callable.error_message


def test_resolve_callable_errors_name_the_path_and_field() -> None:
    with pytest.raises(ConfigError) as info:
        resolve_callable("sample_tasks:NOT_CALLABLE")
    assert info.value.field == "task"
    assert "sample_tasks:NOT_CALLABLE" in str(info.value)
    with pytest.raises(ConfigError):
        resolve_callable("no_colon_here")
    assert resolve_callable("sample_tasks:add") is sample_tasks.add


async def test_results_that_are_not_json_are_stored_as_repr(executor: PythonExecutor) -> None:
    obj = await executor.run(target("make_object"), [], {}, None)
    assert obj.status is RunStatus.SUCCEEDED
    assert isinstance(obj.result, str) and obj.result.startswith("<object object at")
    nan = await executor.run(target("make_nan"), [], {}, None)
    assert nan.result == "nan"
    mapping = await executor.run(target("make_mapping"), [], {}, None)
    assert mapping.result == {"rows": 3, "names": ["a", "b"]}


async def test_resolution_is_cached_per_path() -> None:
    calls: list[str] = []

    def counting(path: str) -> Callable[..., Any]:
        calls.append(path)
        return resolve_callable(path)

    ex = PythonExecutor(counting)
    try:
        for _ in range(3):
            outcome = await ex.run(target("async_add"), [1, 1], {}, None)
            assert outcome.result == 2
    finally:
        ex.close()
    assert calls == ["sample_tasks:async_add"]

"""Isolated Python tasks: each call in a child process that a timeout kills (real processes)."""

from __future__ import annotations

import asyncio
import importlib
import os
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tickwork.domain.jobs import ErrorClass, Outcome, RunStatus
from tickwork.domain.tasks import PythonTarget
from tickwork.runtime.executors.python import PythonExecutor

# The helpers are imported by path like real tasks; the child finds them through our sys.path.
_HERE = str(Path(__file__).parent)
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)
importlib.import_module("policy_tasks")


@pytest.fixture
async def executor() -> AsyncIterator[PythonExecutor]:
    ex = PythonExecutor()
    yield ex
    ex.close()


async def run(
    executor: PythonExecutor, path: str, *args: object, timeout: float | None = 10.0
) -> Outcome:
    return await executor.run(PythonTarget(path), list(args), {}, timeout, isolated=True)


def alive(pid: int) -> bool:
    """Running: a zombie (killed, waiting for its parent or init to reap it) does not count."""
    try:
        os.kill(pid, 0)
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (ProcessLookupError, FileNotFoundError):
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


async def wait_gone(pid: int, seconds: float = 3.0) -> bool:
    deadline = time.monotonic() + seconds
    while alive(pid):
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.02)
    return True


async def test_sync_and_async_tasks_return_their_values(executor: PythonExecutor) -> None:
    sync, coro = await asyncio.gather(
        executor.run(PythonTarget("sample_tasks:add"), [2], {"b": 3}, 10.0, isolated=True),
        executor.run(PythonTarget("sample_tasks:async_add"), [4, 5], {}, None, isolated=True),
    )
    assert sync.status is RunStatus.SUCCEEDED and sync.result == 5
    assert coro.status is RunStatus.SUCCEEDED and coro.result == 9
    wrapped = await executor.run(
        PythonTarget("sample_tasks:returns_coroutine"), [1], {}, 10.0, isolated=True
    )
    assert wrapped.result == 2
    as_repr = await executor.run(
        PythonTarget("sample_tasks:make_object"), [], {}, 10.0, isolated=True
    )
    assert isinstance(as_repr.result, str) and as_repr.result.startswith("<object object at")


async def test_exception_comes_back_with_its_traceback(executor: PythonExecutor) -> None:
    outcome = await executor.run(
        PythonTarget("sample_tasks:fail"), ["boom"], {}, 10.0, isolated=True
    )
    assert outcome.status is RunStatus.FAILED
    assert (outcome.error_type, outcome.error_message) == ("ValueError", "boom")
    assert outcome.error_class is ErrorClass.UNKNOWN and not outcome.force_retry
    assert outcome.traceback is not None
    assert "sample_tasks.py" in outcome.traceback
    assert "raise ValueError(message)" in outcome.traceback
    assert "child.py" not in outcome.traceback  # the child's plumbing is trimmed


async def test_retry_fail_and_config_errors_cross_the_process(executor: PythonExecutor) -> None:
    retry, fail, missing = await asyncio.gather(
        executor.run(PythonTarget("policy_tasks:retry_later"), [30], {}, 10.0, isolated=True),
        executor.run(PythonTarget("policy_tasks:give_up"), [], {}, 10.0, isolated=True),
        executor.run(PythonTarget("policy_tasks:nope"), [], {}, 10.0, isolated=True),
    )
    assert (retry.error_type, retry.force_retry, retry.retry_after_seconds) == ("Retry", True, 30)
    assert (fail.error_type, fail.error_class) == ("Fail", ErrorClass.VALIDATION)
    assert not fail.force_retry and fail.error_message == "row 7 has no id"
    assert missing.error_class is ErrorClass.CONFIG
    assert missing.error_message is not None and "no attribute 'nope'" in missing.error_message


async def test_timeout_kills_the_child_and_its_group(executor: PythonExecutor) -> None:
    started = time.monotonic()
    outcome = await executor.run(
        PythonTarget("policy_tasks:block_in_child"), [], {}, 1.5, isolated=True
    )
    assert time.monotonic() - started < 5
    assert outcome.status is RunStatus.TIMEOUT
    assert outcome.error_class is ErrorClass.TIMEOUT
    # The metrics it streamed before hanging name the child and the grandchild it started.
    assert outcome.metrics is not None and outcome.metrics["processed"] == 1
    pid, grandchild = int(outcome.metrics["pid"]), int(outcome.metrics["grandchild"])
    assert pid != os.getpid()
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)  # killed and reaped before run() returned
    assert await wait_gone(grandchild)  # the whole group went


async def test_cancel_kills_the_child(executor: PythonExecutor) -> None:
    run_task = asyncio.create_task(
        executor.run(PythonTarget("policy_tasks:count_then_hang"), [], {}, None, isolated=True)
    )
    await asyncio.sleep(1.0)
    pids = _children()
    assert pids
    run_task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await run_task
    for pid in pids:
        assert await wait_gone(pid)


def _children() -> list[int]:
    """Our direct child processes (Linux /proc)."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == os.getpid():
                found.append(int(entry))
    return found


async def test_report_in_the_child_reaches_the_outcome(executor: PythonExecutor) -> None:
    ok = await executor.run(PythonTarget("policy_tasks:count_async"), [2], {}, 10.0, isolated=True)
    assert ok.status is RunStatus.SUCCEEDED and ok.result == 2
    assert ok.metrics == {"processed": 12, "failed": 1, "side": "yes", "stage": "done"}
    failed = await executor.run(
        PythonTarget("policy_tasks:count_then_fail"), [], {}, 10.0, isolated=True
    )
    assert failed.status is RunStatus.FAILED
    assert failed.metrics == {"processed": 3, "failed": 1, "last_id": "a7"}


async def test_prints_do_not_break_the_protocol(executor: PythonExecutor) -> None:
    outcome = await run(executor, "policy_tasks:noisy")
    assert outcome.status is RunStatus.SUCCEEDED
    assert outcome.result == "real"
    assert outcome.metrics == {"processed": 1}
    assert outcome.output is not None
    assert "not json {" in outcome.output and "forged at fd level" in outcome.output
    assert outcome.output.endswith("no newline at the end")


async def test_a_child_that_dies_without_a_result_is_a_failure(executor: PythonExecutor) -> None:
    outcome = await run(executor, "policy_tasks:die_hard")
    assert outcome.status is RunStatus.FAILED
    assert outcome.error_type == "ChildDied" and outcome.exit_code == 7
    assert outcome.metrics == {"processed": 1}


async def test_arguments_must_be_json(executor: PythonExecutor) -> None:
    outcome = await executor.run(
        PythonTarget("sample_tasks:add"), [object()], {}, 10.0, isolated=True
    )
    assert outcome.status is RunStatus.FAILED
    assert outcome.error_class is ErrorClass.CONFIG

"""tickwork.report: partial results of in-process Python tasks, and how failures are classified."""

from __future__ import annotations

import asyncio
import errno
import importlib
import socket
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

import tickwork
from tickwork.domain.jobs import ErrorClass, RunStatus
from tickwork.domain.tasks import PythonTarget
from tickwork.runtime.executors.python import PythonExecutor, classify_exception
from tickwork.runtime.report import RunReport, current_report, report, reporting

_HERE = str(Path(__file__).parent)
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)
policy_tasks = importlib.import_module("policy_tasks")


@pytest.fixture
async def executor() -> AsyncIterator[PythonExecutor]:
    ex = PythonExecutor()
    yield ex
    ex.close()


def target(name: str) -> PythonTarget:
    return PythonTarget(f"policy_tasks:{name}")


def test_report_is_exported_lazily() -> None:
    assert tickwork.report is report
    assert {"report", "Retry", "Fail"} <= set(tickwork.__all__)


def test_counters_add_up_and_metrics_overwrite() -> None:
    run_report = RunReport()
    assert run_report.snapshot() is None
    with reporting(run_report):
        assert current_report() is run_report
        report(processed=2)
        report(processed=3, failed=1, stage="a", rate=0.5)
        report(stage="b", ratio=float("nan"), done=True)
    assert current_report() is None
    assert run_report.snapshot() == {
        "processed": 5,
        "failed": 1,
        "stage": "b",
        "rate": 0.5,
        "ratio": "nan",  # not finite: stored as text (PostgreSQL JSON rejects NaN)
        "done": True,
    }


def test_report_outside_a_run_does_nothing_and_checks_types() -> None:
    report(processed=1, note="ignored")  # e.g. a task called directly in a unit test
    with pytest.raises(TypeError, match="processed"):
        report(processed=1.5)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="failed"):
        report(failed=True)
    with pytest.raises(TypeError, match="rows"):
        report(rows=[1, 2])  # type: ignore[arg-type]


async def test_sync_task_reports_from_its_thread(executor: PythonExecutor) -> None:
    outcome = await executor.run(target("count_sync"), [4], {}, 5.0)
    assert outcome.status is RunStatus.SUCCEEDED
    assert outcome.result == 4
    assert outcome.metrics == {"processed": 4, "failed": 2, "rate": 1.5, "stage": "done"}
    # Without a timeout too (the fast path), and each run starts from nothing.
    again = await executor.run(target("count_sync"), [1], {}, None)
    assert again.metrics == {"processed": 1, "failed": 2, "rate": 1.5, "stage": "done"}


async def test_async_task_and_the_tasks_it_spawns_report(executor: PythonExecutor) -> None:
    outcome = await executor.run(target("count_async"), [3], {}, None)
    assert outcome.status is RunStatus.SUCCEEDED
    assert outcome.metrics == {"processed": 13, "failed": 1, "side": "yes", "stage": "done"}


async def test_concurrent_runs_keep_their_own_reports(executor: PythonExecutor) -> None:
    outcomes = await asyncio.gather(
        *(executor.run(target("count_async"), [n], {}, 5.0) for n in (1, 2, 3))
    )
    assert [o.metrics["processed"] for o in outcomes if o.metrics] == [11, 12, 13]


async def test_metrics_survive_a_failure(executor: PythonExecutor) -> None:
    outcome = await executor.run(target("count_then_fail"), [], {}, None)
    assert outcome.status is RunStatus.FAILED
    assert outcome.error_type == "ValueError"
    assert outcome.error_class is ErrorClass.UNKNOWN
    assert outcome.metrics == {"processed": 3, "failed": 1, "last_id": "a7"}


async def test_metrics_survive_a_timeout(executor: PythonExecutor) -> None:
    outcome = await executor.run(target("count_then_hang"), [], {}, 0.2)
    assert outcome.status is RunStatus.TIMEOUT
    assert outcome.metrics is not None and outcome.metrics["processed"] == 5


async def test_a_sync_timeout_counts_its_thread_as_busy(executor: PythonExecutor) -> None:
    policy_tasks.RELEASE.clear()
    try:
        outcome = await executor.run(target("count_then_block"), [], {}, 0.2)
        assert outcome.status is RunStatus.TIMEOUT
        assert outcome.metrics == {"processed": 2}
        assert executor.busy_after_timeout == 1
    finally:
        policy_tasks.RELEASE.set()
    deadline = time.monotonic() + 5
    while executor.busy_after_timeout and time.monotonic() < deadline:
        await asyncio.sleep(0.01)
    assert executor.busy_after_timeout == 0
    # A call that ends in time never counts.
    assert (await executor.run(target("count_sync"), [1], {}, 5.0)).status is RunStatus.SUCCEEDED
    assert executor.busy_after_timeout == 0


async def test_retry_and_fail_raised_by_a_task(executor: PythonExecutor) -> None:
    retry = await executor.run(target("retry_later"), [12.5], {}, None)
    assert retry.status is RunStatus.FAILED
    assert (retry.error_type, retry.error_message) == ("Retry", "the API is busy")
    assert retry.force_retry and retry.retry_after_seconds == 12.5
    plain_retry = await executor.run(target("retry_later"), [None], {}, None)
    assert plain_retry.force_retry and plain_retry.retry_after_seconds is None
    fail = await executor.run(target("give_up"), [], {}, None)
    assert (fail.error_type, fail.error_message) == ("Fail", "row 7 has no id")
    assert fail.error_class is ErrorClass.VALIDATION and not fail.force_retry
    assert fail.traceback is not None and "give_up" in fail.traceback


def test_retry_validates_after() -> None:
    from datetime import timedelta

    assert tickwork.Retry(after=timedelta(minutes=2)).after == 120.0
    assert tickwork.Retry().after is None and tickwork.Retry().reason == ""
    with pytest.raises(ValueError, match="after"):
        tickwork.Retry(after=-1)
    assert isinstance(tickwork.Fail("x"), tickwork.TickworkError)


class TransportError(Exception):
    """Looks like httpx's to the classifier, which goes by module and name."""


TransportError.__module__ = "httpx._exceptions"


@pytest.mark.parametrize(
    ("exc", "error_class"),
    [
        (TimeoutError("slow"), ErrorClass.TIMEOUT),
        (ConnectionRefusedError(errno.ECONNREFUSED, "refused"), ErrorClass.NETWORK),
        (ConnectionResetError(), ErrorClass.NETWORK),
        (socket.gaierror(socket.EAI_NONAME, "no such host"), ErrorClass.NETWORK),
        (OSError(errno.ENETUNREACH, "unreachable"), ErrorClass.NETWORK),
        (httpx.ConnectError("refused"), ErrorClass.NETWORK),
        (httpx.ReadTimeout("slow"), ErrorClass.TIMEOUT),
        (TransportError("fake"), ErrorClass.NETWORK),
        (PermissionError(errno.EACCES, "denied"), ErrorClass.AUTH),
        (tickwork.Fail("bad"), ErrorClass.VALIDATION),
        (FileNotFoundError(errno.ENOENT, "missing"), ErrorClass.UNKNOWN),
        (ValueError("bug"), ErrorClass.UNKNOWN),
        (KeyError("bug"), ErrorClass.UNKNOWN),
        (httpx.HTTPStatusError.__new__(httpx.HTTPStatusError), ErrorClass.UNKNOWN),
    ],
)
def test_exceptions_are_classified(exc: BaseException, error_class: ErrorClass) -> None:
    assert classify_exception(exc) is error_class

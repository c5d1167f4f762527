"""Log lines of a real worker on a real store name the job, run and attempt they belong to,
in JSON (one object per line) and in text; the worker times its claims."""

from __future__ import annotations

import asyncio
import io
import json
import logging
from collections.abc import AsyncIterator, Iterator

import pytest

from tickwork.domain.jobs import JobState
from tickwork.domain.tasks import PythonTarget, TaskDefinition, TaskSource
from tickwork.logs import JsonFormatter, TextFormatter, log_context
from tickwork.runtime.dispatch import Dispatcher
from tickwork.runtime.executors.http import HttpExecutor
from tickwork.runtime.executors.python import PythonExecutor
from tickwork.runtime.worker import Worker, WorkerSettings
from tickwork.service.context import Context
from tickwork.service.facade import Service
from tickwork.service.jobs import EnqueueRequest
from tickwork.store import SqlStore

LOGGERS = ("tickwork.worker", "tests.task")


@pytest.fixture
async def service(store: SqlStore) -> Service:
    svc = Service(Context(store))
    target = PythonTarget("tests.runtime.jobs_for_tests:log_and_fail")
    await svc.sync_definitions(
        [TaskDefinition(name="logfail", target=target, source=TaskSource.CODE)],
        [TaskSource.CODE],
    )
    return svc


@pytest.fixture
async def worker(store: SqlStore) -> AsyncIterator[Worker]:
    w = Worker(
        store,
        Dispatcher(PythonExecutor(), HttpExecutor(), output_limit=65536),
        WorkerSettings(worker_id="w-logs", poll_interval_seconds=0.05),
    )
    await w.start()
    yield w
    await w.stop()
    await w.dispatcher.aclose()


def capture(formatter: logging.Formatter) -> Iterator[io.StringIO]:
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(formatter)
    loggers = [logging.getLogger(name) for name in LOGGERS]
    for logger in loggers:
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
    try:
        yield out
    finally:
        for logger in loggers:
            logger.removeHandler(handler)


@pytest.fixture
def json_lines() -> Iterator[io.StringIO]:
    yield from capture(JsonFormatter())


@pytest.fixture
def text_lines() -> Iterator[io.StringIO]:
    yield from capture(TextFormatter())


async def fail_one(service: Service) -> tuple[int, int]:
    """A job that fails for good; its ID and its run's."""
    job_id = await service.enqueue(EnqueueRequest("logfail"))
    async with asyncio.timeout(10):
        while (await service.get_job(job_id)).state is not JobState.FAILED:
            await asyncio.sleep(0.02)
    (run,) = await service.runs_of_job(job_id)
    # The WARNING line is written just after the result: wait for the writer to get there.
    await asyncio.sleep(0.1)
    return job_id, run.id


async def test_json_lines_name_the_job_and_its_run(
    service: Service, worker: Worker, json_lines: io.StringIO
) -> None:
    job_id, run_id = await fail_one(service)
    lines = [json.loads(line) for line in json_lines.getvalue().splitlines()]
    # The task's own line, from the thread that ran it: the job is known, its run not yet.
    (own,) = [e for e in lines if e["logger"] == "tests.task"]
    assert own["message"] == "working on it" and own["level"] == "WARNING"
    assert (own["task"], own["job_id"], own["attempt"]) == ("logfail", job_id, 1)
    assert "run_id" not in own
    (failed,) = [e for e in lines if e["logger"] == "tickwork.worker" and e["level"] == "WARNING"]
    assert (failed["task"], failed["job_id"], failed["run_id"]) == ("logfail", job_id, run_id)
    assert failed["attempt"] == 1 and failed["processor"] == "w-logs"
    assert failed["error_class"] == "unknown"
    assert failed["time"].endswith("Z")
    # The worker timed its claims (this process's tickwork_claim_duration_seconds).
    assert worker.claim_durations.snapshot().count >= 1


async def test_text_lines_carry_the_same_ids(
    service: Service, worker: Worker, text_lines: io.StringIO
) -> None:
    job_id, run_id = await fail_one(service)
    (failed,) = [line for line in text_lines.getvalue().splitlines() if "WARNING tickwork" in line]
    assert failed.endswith(
        f"task=logfail job_id={job_id} run_id={run_id} attempt=1 error_class=unknown"
    )
    (own,) = [line for line in text_lines.getvalue().splitlines() if "working on it" in line]
    assert own.endswith(f"task=logfail job_id={job_id} attempt=1")


def test_json_keeps_a_traceback_in_one_line_and_calls_win_over_the_context() -> None:
    record_out = io.StringIO()
    handler = logging.StreamHandler(record_out)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("tests.logs.json")
    logger.addHandler(handler)
    logger.propagate = False
    logger.setLevel(logging.INFO)
    try:
        with log_context(request_id="req-7", job_id=1):
            try:
                raise RuntimeError("boom\non two lines")
            except RuntimeError:
                logger.exception("it broke", extra={"job_id": 2})
        logger.info("outside")
    finally:
        logger.removeHandler(handler)
    first, second = record_out.getvalue().splitlines()
    entry = json.loads(first)
    assert entry["message"] == "it broke" and entry["level"] == "ERROR"
    assert entry["request_id"] == "req-7" and entry["job_id"] == 2
    assert "RuntimeError: boom" in entry["exception"]
    outside = json.loads(second)
    assert outside["message"] == "outside" and "request_id" not in outside

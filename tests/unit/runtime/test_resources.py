"""What runs use, measured by the executors on real processes and threads: the process tree of
shell commands and isolated tasks, the thread of sync tasks, an async task's worker share."""

from __future__ import annotations

import importlib
import os
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tickwork.domain.jobs import ResourceScope, ResourceUse, RunStatus
from tickwork.domain.tasks import PythonTarget, ShellTarget
from tickwork.runtime.executors.meters import WorkerShare
from tickwork.runtime.executors.processes import TreeSampler
from tickwork.runtime.executors.python import PythonExecutor
from tickwork.runtime.executors.shell import run_shell

_HERE = str(Path(__file__).parent)
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)
importlib.import_module("sample_tasks")

PY = sys.executable


@pytest.fixture
async def executor() -> AsyncIterator[PythonExecutor]:
    ex = PythonExecutor()
    yield ex
    ex.close()


def process_figures(used: ResourceUse | None) -> ResourceUse:
    assert used is not None
    assert used.scope is ResourceScope.PROCESS
    assert used.cpu_seconds is not None and used.cpu_seconds > 0
    assert used.cpu_percent is not None and used.cpu_percent > 0
    return used


async def test_a_shell_command_records_its_peak_memory_and_cpu() -> None:
    command = f'{PY} -c "x = bytearray(200*1024*1024); import time; time.sleep(0.3)"'
    outcome = await run_shell(ShellTarget(command), 30)
    assert outcome.status is RunStatus.SUCCEEDED, outcome.output
    used = process_figures(outcome.resources)
    assert used.peak_memory_mb is not None and 195 <= used.peak_memory_mb < 600


async def test_processes_side_by_side_count_together() -> None:
    # Two children of the shell at once, 120 MB each: only the tree's sum says 240.
    hold = f'{PY} -c "x = bytearray(120*1024*1024); import time; time.sleep(1.0)"'
    outcome = await run_shell(ShellTarget(f"{hold} & {hold} & wait"), 30)
    assert outcome.status is RunStatus.SUCCEEDED, outcome.output
    used = process_figures(outcome.resources)
    assert used.peak_memory_mb is not None and 235 <= used.peak_memory_mb < 800


async def test_a_small_command_does_not_inherit_the_workers_peak() -> None:
    # A forked child starts with its parent's peak RSS; a fat worker must not lend it.
    ballast = b"x" * (300 * 1024 * 1024)
    outcome = await run_shell(ShellTarget("true"), 30)
    del ballast
    used = process_figures(outcome.resources)
    assert used.peak_memory_mb is None or used.peak_memory_mb < 100


async def test_cpu_of_a_shell_command_is_its_trees() -> None:
    outcome = await run_shell(ShellTarget(f'{PY} -c "sum(range(3 * 10**7))"'), 60)
    used = process_figures(outcome.resources)
    assert used.cpu_seconds is not None and used.cpu_seconds > 0.1


async def test_a_timed_out_command_still_has_figures() -> None:
    outcome = await run_shell(ShellTarget("sleep 5"), 0.3)
    assert outcome.status is RunStatus.TIMEOUT
    process_figures(outcome.resources)


async def test_an_isolated_task_records_its_process(executor: PythonExecutor) -> None:
    outcome = await executor.run(
        PythonTarget("sample_tasks:allocate"), [200, 0.3], {}, 30, isolated=True
    )
    assert outcome.status is RunStatus.SUCCEEDED and outcome.result == 200, outcome.output
    used = process_figures(outcome.resources)
    assert used.peak_memory_mb is not None and 195 <= used.peak_memory_mb < 700


async def test_a_sync_task_records_its_threads_cpu(executor: PythonExecutor) -> None:
    outcome = await executor.run(PythonTarget("sample_tasks:spin"), [0.2], {}, 30)
    assert outcome.status is RunStatus.SUCCEEDED
    used = outcome.resources
    assert used is not None and used.scope is ResourceScope.THREAD
    assert used.cpu_seconds is not None and used.cpu_seconds >= 0.2
    assert used.cpu_percent is not None and used.cpu_percent > 0
    assert used.peak_memory_mb is None  # shared with the worker: no figure of its own


async def test_a_failing_sync_task_is_measured_too(executor: PythonExecutor) -> None:
    outcome = await executor.run(PythonTarget("sample_tasks:fail"), ["no"], {}, 30)
    assert outcome.status is RunStatus.FAILED
    assert outcome.resources is not None and outcome.resources.scope is ResourceScope.THREAD


async def test_a_timed_out_sync_task_has_no_figures(executor: PythonExecutor) -> None:
    # Its thread runs on: nothing measured is final.
    outcome = await executor.run(PythonTarget("sample_tasks:spin"), [1.0], {}, 0.1)
    assert outcome.status is RunStatus.TIMEOUT and outcome.resources is None


async def test_an_async_task_records_a_worker_share(executor: PythonExecutor) -> None:
    outcome = await executor.run(PythonTarget("sample_tasks:async_spin"), [0.2], {}, 30)
    used = outcome.resources
    assert used is not None and used.scope is ResourceScope.WORKER
    assert used.cpu_seconds is not None and used.cpu_seconds >= 0.2
    assert used.peak_memory_mb is None


def test_the_worker_share_is_split_among_tasks_running_together() -> None:
    total_before = time.process_time()
    share = WorkerShare()
    a = share.enter()
    b = share.enter()
    end = time.thread_time() + 0.1
    while time.thread_time() < end:
        pass
    used_a = share.leave(a)
    used_b = share.leave(b)
    total = time.process_time() - total_before
    assert used_a > 0 and abs(used_a - used_b) < 0.01
    assert used_a + used_b <= total + 1e-6
    alone = share.enter()
    end = time.thread_time() + 0.05
    while time.thread_time() < end:
        pass
    assert share.leave(alone) >= 0.05  # alone, it gets the whole process


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs /proc")
def test_tree_sampler_reads_a_live_process() -> None:
    sampler = TreeSampler(os.getpid())
    sampler.sample()
    assert sampler.peak_bytes > 1024 * 1024  # this interpreter holds more than a megabyte

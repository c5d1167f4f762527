"""``tickwork worker --cpus N``: the process and every thread it starts (the event loop's, the
sync jobs' pool, the store's) run on CPU N only; a CPU the process may not use is refused."""

from __future__ import annotations

import json
import os
import textwrap
from pathlib import Path

import pytest

from tests.integration.support import cli, start_tickwork, stop, wait_for

TASKS = """
import json, os, threading

def _write(name):
    with open(name, "w") as f:
        json.dump(sorted(os.sched_getaffinity(0)), f)

def in_thread():
    _write("thread.json")

async def on_loop():
    _write("loop.json")
"""

pytestmark = pytest.mark.skipif(
    not hasattr(os, "sched_getaffinity"), reason="CPU affinity is Linux's"
)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "cpu_tasks.py").write_text(TASKS)
    (tmp_path / "tickwork.toml").write_text(
        textwrap.dedent(f"""
        [tickwork]
        database_url = "sqlite:///{tmp_path / "tw.db"}"
        poll_interval = "0.2s"

        [[jobs]]
        name = "in-thread"
        task = "cpu_tasks:in_thread"

        [[jobs]]
        name = "on-loop"
        task = "cpu_tasks:on_loop"
        """)
    )
    return tmp_path


def test_a_pinned_worker_runs_its_jobs_on_that_cpu(project: Path) -> None:
    mine = sorted(os.sched_getaffinity(0))
    cpu = mine[-1]
    proc = start_tickwork(["run", "--no-api", "--cpus", str(cpu)], project)
    try:
        for job in ("in-thread", "on-loop"):
            wait_for(lambda job=job: cli(["enqueue", job], project).returncode == 0)
        for name in ("thread.json", "loop.json"):
            found = wait_for(lambda name=name: (project / name).is_file(), timeout=30)
            assert found
            assert json.loads((project / name).read_text()) == [cpu], name
    finally:
        out = stop(proc)
    assert f"pinned to CPU {cpu}" in out


def test_the_environment_variable_pins_too_and_bad_lists_are_refused(project: Path) -> None:
    done = cli(["worker", "--cpus", "9999"], project)
    assert done.returncode == 2
    assert done.stderr.startswith("error: --cpus: CPU 9999 is not available to this process")
    done = cli(["worker"], project, env={"TICKWORK_CPUS": "one"})
    assert done.returncode == 2
    assert (
        done.stderr.strip()
        == "error: --cpus: 'one' is not a CPU number or range (e.g. 1, 0,2 or 0-3)"
    )

"""Several real tickwork processes on one PostgreSQL database, and what to check afterwards.

Used by tests/integration/test_multinode_pg.py and scripts/chaos_pg.py. Processes are
``bench/worker_proc.py``, each in its own session, with this directory on PYTHONPATH so that
``cluster_tasks`` and ``bench_tasks`` import.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import signal
import subprocess
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from cluster_tasks import read_log

from tickwork.domain.tasks import TaskDefinition, TaskSource
from tickwork.service.context import Context
from tickwork.service.facade import Service
from tickwork.service.jobs import EnqueueRequest
from tickwork.store import create_store

HERE = Path(__file__).resolve().parent
WORKER_PROC = HERE / "worker_proc.py"
TERMINATE_OTHERS = (
    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
    "WHERE datname = current_database() AND pid <> pg_backend_pid()"
)


def wait_for(condition: Callable[[], Any], timeout: float, interval: float = 0.1) -> Any:
    """Poll ``condition`` until it returns a truthy value; AssertionError after ``timeout``."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = condition()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"condition not met within {timeout}s (last value: {last!r})")


@dataclass
class Proc:
    name: str
    processor_id: str
    popen: subprocess.Popen[bytes]
    log: Path

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""


class Cluster:
    """Starts worker_proc.py processes and guarantees they are gone on ``close``."""

    def __init__(self, url: str, scratch: Path, out: Path) -> None:
        self.url = url
        self.scratch = scratch
        self.out = out  # the cluster_tasks log ($CLUSTER_OUT)
        self.procs: list[Proc] = []
        self._n = 0
        self.engine = sa.create_engine(
            sa.make_url(url).set(drivername="postgresql+psycopg"), pool_pre_ping=True
        )

    def start(self, name: str, *args: str, roles: str = "worker") -> Proc:
        self._n += 1
        processor_id = f"{name}-{self._n}"
        log = self.scratch / f"{processor_id}.log"
        env = {
            **os.environ,
            "CLUSTER_OUT": str(self.out),
            "BENCH_OUT": str(self.out.with_suffix(".bench")),
            "PYTHONPATH": os.pathsep.join(filter(None, [str(HERE), os.environ.get("PYTHONPATH")])),
        }
        with log.open("ab") as f:
            popen = subprocess.Popen(
                [
                    sys.executable,
                    str(WORKER_PROC),
                    self.url,
                    "--roles",
                    roles,
                    "--processor-id",
                    processor_id,
                    *args,
                ],
                env=env,
                stdout=f,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        proc = Proc(name, processor_id, popen, log)
        self.procs.append(proc)
        return proc

    def wait_started(self, procs: Sequence[Proc], timeout: float = 20.0) -> None:
        """Until every process registered itself (its heartbeat row exists)."""
        want = {p.processor_id for p in procs}

        def up() -> bool:
            for p in procs:
                if not p.alive():
                    raise AssertionError(f"{p.processor_id} exited early:\n{p.output()}")
            return want <= self.processor_ids(running_only=True)

        wait_for(up, timeout)

    def signal(self, proc: Proc, sig: int) -> None:
        if proc.alive():
            os.killpg(proc.pid, sig)

    def stop(self, proc: Proc, timeout: float = 30.0) -> int:
        """SIGTERM, wait; SIGKILL after ``timeout``. Returns the exit status."""
        self.signal(proc, signal.SIGTERM)
        try:
            return proc.popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.signal(proc, signal.SIGKILL)
            return proc.popen.wait()

    def kill(self, proc: Proc) -> None:
        self.signal(proc, signal.SIGKILL)
        proc.popen.wait(timeout=10)

    def close(self) -> None:
        for p in self.procs:
            if p.alive():
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(p.pid, signal.SIGKILL)
                p.popen.wait(timeout=10)
        self.engine.dispose()

    # --- database ----------------------------------------------------------------------------
    def query(self, sql: str, **params: Any) -> list[Any]:
        with self.engine.connect() as conn:
            return list(conn.execute(sa.text(sql), params))

    def scalar(self, sql: str, **params: Any) -> Any:
        with self.engine.connect() as conn:
            return conn.execute(sa.text(sql), params).scalar()

    def terminate_backends(self) -> int:
        """pg_terminate_backend of every other connection to this database."""
        with self.engine.connect() as conn:
            n = conn.execute(sa.text(TERMINATE_OTHERS)).scalar()
            conn.rollback()
        return int(n or 0)

    def processor_ids(self, *, running_only: bool = False) -> set[str]:
        sql = "SELECT id FROM tickwork_processors"
        if running_only:
            sql += " WHERE stopped_at IS NULL"
        return {r[0] for r in self.query(sql)}

    def states(self) -> dict[str, int]:
        return {s: n for s, n in self.query("SELECT state, count(*) FROM tickwork_jobs GROUP BY 1")}

    def count_in(self, *states: str) -> int:
        return int(
            self.scalar("SELECT count(*) FROM tickwork_jobs WHERE state = ANY(:s)", s=list(states))
        )

    def runs(self) -> list[Any]:
        """Every run record with its job's key: job_id, key, status, started_at, finished_at,
        worker_id, error_message."""
        return self.query(
            "SELECT r.job_id, j.key, r.status, r.started_at, r.finished_at, r.worker_id,"
            " r.error_message, r.id FROM tickwork_runs r JOIN tickwork_jobs j ON j.id = r.job_id"
            " ORDER BY r.id"
        )


# --- setting up --------------------------------------------------------------------------------
async def _setup(
    url: str, definitions: Sequence[TaskDefinition], requests: Sequence[EnqueueRequest]
) -> list[int]:
    store = create_store(url)
    await store.open()
    try:
        service = Service(Context(store, resolve=None))
        if definitions:
            await service.sync_definitions(list(definitions), [TaskSource.CODE])
        ids: list[int] = []
        for i in range(0, len(requests), 1000):
            ids += await service.enqueue_many(list(requests[i : i + 1000]))
        return ids
    finally:
        await store.close()


def setup(
    url: str,
    definitions: Sequence[TaskDefinition] = (),
    requests: Sequence[EnqueueRequest] = (),
) -> list[int]:
    """Sync ``definitions`` and enqueue ``requests`` in bulk (batches of 1,000); the job IDs."""
    return asyncio.run(_setup(url, definitions, requests))


# --- checks ------------------------------------------------------------------------------------
def overlapping_runs(runs: Sequence[Any]) -> dict[int, int]:
    """Jobs with two run records whose [start, end] intervals overlap: job id -> how many pairs."""
    by_job: dict[int, list[tuple[datetime, datetime]]] = defaultdict(list)
    for r in runs:
        by_job[r.job_id].append((r.started_at, r.finished_at))
    bad: dict[int, int] = {}
    for job_id, spans in by_job.items():
        spans.sort()
        n = sum(1 for a, b in itertools.pairwise(spans) if b[0] < a[1])
        if n:
            bad[job_id] = n
    return bad


def max_overlap_per_key(runs: Sequence[Any]) -> dict[str, int]:
    """For each key, the most runs of that key that were running at one instant."""
    by_key: dict[str, list[tuple[datetime, int]]] = defaultdict(list)
    for r in runs:
        if r.key is not None:
            by_key[r.key] += [(r.started_at, 1), (r.finished_at, -1)]
    out: dict[str, int] = {}
    for key, events in by_key.items():
        events.sort(key=lambda e: (e[0], e[1]))
        cur = best = 0
        for _, step in events:
            cur += step
            best = max(best, cur)
        out[key] = best
    return out


def fire_gaps(
    fire_times: Sequence[datetime], every: float = 1.0
) -> list[tuple[datetime, datetime]]:
    """Consecutive fire times (sorted) that are not ``every`` seconds apart."""
    times = sorted(fire_times)
    step = timedelta(seconds=every)
    return [(a, b) for a, b in itertools.pairwise(times) if b - a != step]


def executions(out: Path) -> Counter[str]:
    """How many finished executions the cluster_tasks log holds per tag."""
    return Counter(tag for tag, *_ in read_log(out))

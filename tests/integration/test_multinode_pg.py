"""Several real tickwork processes on one PostgreSQL database (bench/worker_proc.py).

Each test gets a fresh database (``pg_url``; skipped without TICKWORK_TEST_PG_URL). Jobs run
``bench/cluster_tasks.py``, which logs each finished execution to a file outside the database;
the checks read that log and tickwork's own job and run records. Every process is killed in a
``finally``.
"""

from __future__ import annotations

import signal
import sys
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

import pytest

from tickwork.domain.limits import OverlapPolicy, Policies
from tickwork.domain.tasks import PythonTarget, RetryPolicy, TaskDefinition
from tickwork.runtime.reaper import LEASE_EXPIRED_REASON
from tickwork.runtime.worker import SHUTDOWN_REASON
from tickwork.service.jobs import EnqueueRequest

BENCH = Path(__file__).resolve().parents[2] / "bench"
if str(BENCH) not in sys.path:
    sys.path.insert(0, str(BENCH))

from cluster import (  # noqa: E402
    Cluster,
    executions,
    fire_gaps,
    max_overlap_per_key,
    overlapping_runs,
    setup,
    wait_for,
)
from cluster_tasks import max_overlap, read_log  # noqa: E402

pytestmark = pytest.mark.postgres

FAST = ["--poll-interval", "0.2"]


@pytest.fixture
def cluster(pg_url: str, tmp_path: Path) -> Iterator[Cluster]:
    c = Cluster(pg_url, tmp_path, tmp_path / "executions.log")
    try:
        yield c
    finally:
        c.close()


def work_task(name: str = "work", max_retries: int = 0) -> TaskDefinition:
    return TaskDefinition(
        name=name,
        target=PythonTarget("cluster_tasks:work"),
        retry=RetryPolicy(max_retries=max_retries),
    )


def stop_all_cleanly(cluster: Cluster, *, check_logs: bool = True) -> None:
    for p in cluster.procs:
        if p.alive():
            status = cluster.stop(p)
            assert status == 0, f"{p.processor_id} exited {status}:\n{p.output()}"
        if check_logs:
            assert "Traceback" not in p.output(), p.output()


def test_key_limit_and_single_runs_across_five_processes(cluster: Cluster) -> None:
    n, keys = 5000, 50
    workers = [
        cluster.start("w", "--key-limit", "2", "--concurrency", "20", "--batch", "20", *FAST)
        for _ in range(3)
    ]
    schedulers = [cluster.start("s", *FAST, roles="scheduler") for _ in range(2)]
    cluster.wait_started(workers + schedulers)
    ids = setup(
        cluster.url,
        [work_task()],
        # Keys in blocks of 100 consecutive jobs: every claim meets more due jobs of a key than
        # the limit lets start, so the limit binds all the time.
        [EnqueueRequest("work", args=(str(i), 0.005), key=f"k{i * keys // n}") for i in range(n)],
    )
    assert len(set(ids)) == n

    wait_for(lambda: cluster.count_in("succeeded") == n, timeout=40, interval=0.25)
    stop_all_cleanly(cluster)

    assert cluster.states() == {"succeeded": n}
    runs = cluster.runs()
    assert len(runs) == n and {r.status for r in runs} == {"succeeded"}
    assert overlapping_runs(runs) == {}
    per_key = max_overlap_per_key(runs)
    assert len(per_key) == keys
    assert max(per_key.values()) <= 2, {k: v for k, v in per_key.items() if v > 2}
    assert max(per_key.values()) == 2  # the limit was reached, so it was tested
    assert all(r.finished_at > r.started_at for r in runs)  # no zero-length records
    # The same from the task bodies' own log, independent of tickwork's records.
    bodies: dict[int, list[tuple[float, float]]] = defaultdict(list)
    for tag, start, end, _pid in read_log(cluster.out):
        bodies[int(tag) * keys // n].append((start, end))
    assert max(max_overlap(spans) for spans in bodies.values()) <= 2
    assert len({r.worker_id for r in runs}) == 3  # every worker took part
    done = executions(cluster.out)
    assert len(done) == n and set(done.values()) == {1}


def test_two_schedulers_fire_each_second_once(cluster: Cluster) -> None:
    setup(
        cluster.url,
        [
            TaskDefinition(
                name="tick",
                target=PythonTarget("cluster_tasks:tick"),
                schedule="* * * * * *",
                # Every fire makes a runnable job, even if the previous one is late on a busy
                # machine (the default, overlap=skip, would record it as skipped).
                policies=Policies(overlap=OverlapPolicy.ALLOW),
            )
        ],
    )
    procs = [cluster.start("sw", *FAST, roles="worker,scheduler") for _ in range(2)]
    cluster.wait_started(procs)
    wait_for(
        lambda: (
            cluster.scalar("SELECT count(*) FROM tickwork_jobs WHERE state = 'succeeded'") >= 10
        ),
        timeout=20,
        interval=0.25,
    )
    assert all(p.alive() for p in procs)
    stop_all_cleanly(cluster)

    fires = cluster.query(
        "SELECT fire_at, count(*) AS n, min(state) AS state FROM tickwork_jobs"
        " GROUP BY fire_at ORDER BY fire_at"
    )
    assert len(fires) >= 10
    assert all(f.n == 1 for f in fires), [f for f in fires if f.n != 1]
    assert None not in {f.fire_at for f in fires}
    assert fire_gaps([f.fire_at for f in fires]) == []
    # All but the last one or two (fired ahead, then released at stop) have run.
    assert {f.state for f in fires[:-2]} == {"succeeded"}
    runs = cluster.runs()
    assert overlapping_runs(runs) == {}
    assert len([r for r in runs if r.status == "succeeded"]) == executions(cluster.out)["tick"]


def test_kill_9_worker_mid_run_other_worker_finishes_after_lease(cluster: Cluster) -> None:
    lease = ["--lease", "2", *FAST]
    victim = cluster.start("victim", "--concurrency", "4", *lease)
    cluster.wait_started([victim])
    gate = cluster.out.parent / "gate"  # the jobs run until it exists
    ids = setup(
        cluster.url,
        [work_task("slow", max_retries=1)],
        [EnqueueRequest("slow", args=(f"slow-{i}", 0.0, str(gate))) for i in range(4)],
    )
    # Mid-run: the victim holds all four and has extended their leases at least once.
    wait_for(
        lambda: (
            cluster.scalar(
                "SELECT count(*) FROM tickwork_jobs WHERE state = 'running' AND worker_id = :w"
                " AND lease_expires_at > started_at + interval '2.2 seconds'",
                w=victim.processor_id,
            )
            == 4
        ),
        timeout=15,
    )
    survivor = cluster.start("survivor", "--concurrency", "8", *lease)
    cluster.wait_started([survivor])
    cluster.kill(victim)
    assert cluster.count_in("running") == 4  # orphaned until their leases expire
    gate.touch()

    wait_for(lambda: cluster.count_in("succeeded") == 4, timeout=20)
    stop_all_cleanly(cluster)

    by_job = {i: [r for r in cluster.runs() if r.job_id == i] for i in ids}
    for job_id, job_runs in by_job.items():
        assert [(r.status, r.worker_id) for r in job_runs] == [
            ("interrupted", victim.processor_id),
            ("succeeded", survivor.processor_id),
        ], job_id
        assert job_runs[0].error_message == LEASE_EXPIRED_REASON
        assert "lease expired" in job_runs[0].error_message
    assert cluster.query("SELECT DISTINCT attempt FROM tickwork_jobs")[0][0] == 2
    assert overlapping_runs(cluster.runs()) == {}
    done = executions(cluster.out)
    assert sorted(done) == sorted(f"slow-{i}" for i in range(4)) and set(done.values()) == {1}


def test_terminated_connections_recover_without_losing_jobs(cluster: Cluster) -> None:
    n = 1000
    setup(
        cluster.url,
        [
            work_task(max_retries=1),
            TaskDefinition(
                name="tick",
                target=PythonTarget("cluster_tasks:tick"),
                schedule="* * * * * *",
                priority=10,  # ahead of the backlog
            ),
        ],
    )
    procs = [
        cluster.start("w", "--concurrency", "10", "--batch", "10", "--lease", "5", *FAST)
        for _ in range(2)
    ]
    procs.append(
        cluster.start(
            "sw",
            "--concurrency",
            "10",
            "--batch",
            "10",
            "--lease",
            "5",
            *FAST,
            roles="worker,scheduler",
        )
    )
    cluster.wait_started(procs)
    setup(cluster.url, requests=[EnqueueRequest("work", args=(str(i), 0.05)) for i in range(n)])

    def done() -> int:
        return int(
            cluster.scalar(
                "SELECT count(*) FROM tickwork_jobs WHERE task_name = 'work'"
                " AND state = 'succeeded'"
            )
        )

    terminated = 0
    for threshold in (100, 350, 600):
        wait_for(lambda t=threshold: done() >= t, timeout=30)
        assert done() < n, "finished before the connections could be terminated"
        terminated += cluster.terminate_backends()
    assert terminated >= 3
    wait_for(lambda: done() == n, timeout=45, interval=0.25)
    # The scheduler recovered too: fires keep coming after the last termination.
    ticks = cluster.count_in("succeeded") - n
    wait_for(lambda: cluster.count_in("succeeded") - n >= ticks + 2, timeout=30)
    assert all(p.alive() for p in procs), [p.output() for p in procs if not p.alive()]
    stop_all_cleanly(cluster, check_logs=False)

    work = cluster.query(
        "SELECT state, count(*) FROM tickwork_jobs WHERE task_name = 'work' GROUP BY 1"
    )
    assert dict(work) == {"succeeded": n}
    assert cluster.count_in("running") == 0
    runs = cluster.runs()
    assert overlapping_runs(runs) == {}
    succeeded = [r.job_id for r in runs if r.status == "succeeded"]
    assert len(succeeded) == len(set(succeeded))  # one success record per job
    ticks_by_fire = cluster.query(
        "SELECT fire_at, count(*) AS n, min(state) AS state FROM tickwork_jobs"
        " WHERE task_name = 'tick' GROUP BY fire_at ORDER BY fire_at"
    )
    assert all(t.n == 1 for t in ticks_by_fire)
    assert fire_gaps([t.fire_at for t in ticks_by_fire]) == []  # no fire lost to the outages
    # overlap=skip (the default) may record a fire as skipped while the previous one waits.
    assert {t.state for t in ticks_by_fire[:-2]} <= {"succeeded", "skipped"}
    counts = executions(cluster.out)
    assert len([t for t in counts if t != "tick"]) == n
    assert {v for t, v in counts.items() if t != "tick"} == {1}  # nothing ran twice


def test_sigterm_releases_running_jobs_to_another_worker(cluster: Cluster) -> None:
    leaving = cluster.start("leaving", "--concurrency", "4", "--shutdown-timeout", "1", *FAST)
    cluster.wait_started([leaving])
    gate = cluster.out.parent / "gate"  # the jobs run until it exists
    ids = setup(
        cluster.url,
        [work_task("slow")],
        [EnqueueRequest("slow", args=(f"slow-{i}", 0.0, str(gate))) for i in range(4)],
    )
    wait_for(
        lambda: (
            cluster.scalar(
                "SELECT count(*) FROM tickwork_jobs WHERE state = 'running' AND worker_id = :w",
                w=leaving.processor_id,
            )
            == 4
        ),
        timeout=15,
    )
    staying = cluster.start("staying", "--concurrency", "8", *FAST)
    cluster.wait_started([staying])
    cluster.signal(leaving, signal.SIGTERM)
    assert leaving.popen.wait(timeout=15) == 0, leaving.output()
    assert (
        cluster.query(
            "SELECT count(*) FROM tickwork_jobs WHERE state = 'running' AND worker_id = :w",
            w=leaving.processor_id,
        )[0][0]
        == 0
    )

    gate.touch()
    wait_for(lambda: cluster.count_in("succeeded") == 4, timeout=20)
    stop_all_cleanly(cluster)

    assert cluster.count_in("running") == 0
    runs = cluster.runs()
    for job_id in ids:
        job_runs = [r for r in runs if r.job_id == job_id]
        assert [(r.status, r.worker_id, r.error_message) for r in job_runs] == [
            ("interrupted", leaving.processor_id, SHUTDOWN_REASON),
            ("succeeded", staying.processor_id, None),
        ]
    # A released attempt spends no retry: the job got one more attempt, and succeeded on it.
    assert set(cluster.query("SELECT attempt, max_attempts FROM tickwork_jobs")) == {(2, 2)}
    assert leaving.processor_id not in cluster.processor_ids(running_only=True)
    done = executions(cluster.out)
    assert set(done.values()) == {1} and len(done) == 4

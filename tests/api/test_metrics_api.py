"""``GET /metrics`` on a real server, parsed with prometheus-client's own parser.

The run counts, durations and waits come from the lifetime rollups and the missed fires from
their table; until the writers of those rows are merged, these tests insert the rows as the
writers will (period 0, bucket start at the epoch). Queue, schedules, processors and the last
success come from live rows made through the store.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

import httpx
import pytest
import sqlalchemy as sa
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from tests.api.conftest import TEST_SETTINGS, Api, add_run, define, error_of, running_api
from tickwork.domain.access import Role, Scope
from tickwork.domain.histogram import BOUNDS, bucket_of
from tickwork.domain.jobs import NewJob, RunStatus, TriggeredBy
from tickwork.domain.queries import ProcessorInfo
from tickwork.store import SqlStore
from tickwork.store.schema import missed_fires, rollups

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# Labels a metric may carry: never a job's or a run's ID.
ALLOWED_LABELS = {"task", "status", "state", "reason", "role", "le"}


def add_rollups(
    store: SqlStore, task: str, measure: str, status: str, values: Iterable[float]
) -> None:
    """Lifetime rollup rows for ``values`` as the rollup writer records them."""
    by_bucket: dict[int, tuple[int, float]] = {}
    for v in values:
        n, total = by_bucket.get(bucket_of(v), (0, 0.0))
        by_bucket[bucket_of(v)] = (n + 1, total + v)
    with store.engine.begin() as conn:
        for bucket, (n, total) in by_bucket.items():
            key = {
                "task_name": task,
                "period_seconds": 0,
                "bucket_start": EPOCH,
                "measure": measure,
                "status": status,
                "bucket": bucket,
            }
            found = conn.execute(
                sa.select(rollups.c.count).where(*(rollups.c[k] == v for k, v in key.items()))
            ).first()
            if found is None:
                conn.execute(rollups.insert().values(**key, count=n, total=total))
            else:
                conn.execute(
                    rollups.update()
                    .where(*(rollups.c[k] == v for k, v in key.items()))
                    .values(count=rollups.c.count + n, total=rollups.c.total + total)
                )


def add_missed(store: SqlStore, task: str, reason: str, n: int, at: datetime) -> None:
    with store.engine.begin() as conn:
        for i in range(n):
            conn.execute(
                missed_fires.insert().values(
                    task_name=task,
                    fire_at=at - timedelta(minutes=i),
                    reason=reason,
                    recorded_at=at,
                )
            )


async def scrape(client: httpx.AsyncClient) -> dict[str, list[Sample]]:
    """``/metrics`` parsed: samples by metric family name."""
    response = await client.get("/metrics")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    families: dict[str, list[Sample]] = {}
    for family in text_string_to_metric_families(response.text):
        families[family.name] = list(family.samples)
        for sample in family.samples:
            assert set(sample.labels) <= ALLOWED_LABELS, sample
    return families


def value(samples: list[Sample], name: str, **labels: str) -> float:
    found = [s.value for s in samples if s.name == name and s.labels == labels]
    assert len(found) == 1, (name, labels, samples)
    return found[0]


def check_histogram(samples: list[Sample], name: str, **labels: str) -> tuple[float, float]:
    """Cumulative buckets ending at +Inf == _count; returns (count, sum)."""
    buckets = [
        (float(s.labels["le"]), s.value)
        for s in samples
        if s.name == f"{name}_bucket" and {k: v for k, v in s.labels.items() if k != "le"} == labels
    ]
    assert buckets, (name, labels)
    bounds = [b for b, _ in buckets]
    assert bounds == sorted(bounds) and bounds[-1] == float("inf")
    counts = [n for _, n in buckets]
    assert counts == sorted(counts), "cumulative buckets never decrease"
    count = value(samples, f"{name}_count", **labels)
    assert counts[-1] == count
    return count, value(samples, f"{name}_sum", **labels)


async def test_counters_and_histograms_match_the_rollups(api_any: Api) -> None:
    api = api_any
    durations = {"succeeded": [0.004, 0.3, 2.5, 2.6], "failed": [40.0], "skipped": [0.0]}
    for status, values in durations.items():
        add_rollups(api.store, "report", "duration", status, values)
    add_rollups(api.store, "report", "wait", "", [0.01, 0.02, 5.0])
    add_rollups(api.store, "mail", "duration", "timeout", [120.0, 100_000.0])
    add_missed(api.store, "report", "overlap", 3, api.clock.now())
    add_missed(api.store, "report", "misfire", 1, api.clock.now())

    families = await scrape(api.client)

    completed = families["tickwork_jobs_completed"]
    assert value(completed, "tickwork_jobs_completed_total", task="report", status="succeeded") == 4
    assert value(completed, "tickwork_jobs_completed_total", task="report", status="failed") == 1
    assert value(completed, "tickwork_jobs_completed_total", task="report", status="skipped") == 1
    assert value(completed, "tickwork_jobs_completed_total", task="mail", status="timeout") == 2
    assert len(completed) == 4

    run_times = families["tickwork_job_duration_seconds"]
    # Skipped runs did none of the task's work: they count as completed, not in durations.
    count, total = check_histogram(run_times, "tickwork_job_duration_seconds", task="report")
    assert count == 5 and total == pytest.approx(0.004 + 0.3 + 2.5 + 2.6 + 40.0)
    # Cumulative at a published bound: the values at or below it.
    le_4s = next(b for b in BOUNDS[::2] if b >= 2.6)
    at_4s = [
        s.value
        for s in run_times
        if s.name.endswith("_bucket") and s.labels == {"task": "report", "le": repr(le_4s)}
    ]
    assert at_4s == [4]
    count, total = check_histogram(run_times, "tickwork_job_duration_seconds", task="mail")
    assert count == 2 and total == pytest.approx(100_120.0)  # one beyond the last bound: +Inf only

    count, total = check_histogram(
        families["tickwork_job_wait_seconds"], "tickwork_job_wait_seconds", task="report"
    )
    assert count == 3 and total == pytest.approx(5.03)

    missed = families["tickwork_schedule_missed_fires"]
    name = "tickwork_schedule_missed_fires_total"
    assert value(missed, name, task="report", reason="overlap") == 3
    assert value(missed, name, task="report", reason="misfire") == 1
    # A process without a worker has no claim durations of its own to show.
    assert "tickwork_claim_duration_seconds" not in families


async def test_queue_schedules_and_processors_from_live_rows(api_any: Api) -> None:
    api = api_any
    now = api.clock.now()
    await define(api, "ping", "pong", "off")
    await api.ctx.service.set_enabled("off", False)  # a disabled schedule does not fire
    await add_run(api, "ping", RunStatus.SUCCEEDED, seconds=2, at=now - timedelta(hours=2))
    await add_run(api, "ping", RunStatus.SUCCEEDED, seconds=3, at=now - timedelta(hours=1))
    await add_run(api, "ping", RunStatus.FAILED, at=now - timedelta(minutes=5))
    await add_run(api, "pong", RunStatus.FAILED, at=now - timedelta(minutes=5))
    store = api.store
    due = [NewJob("ping", now - timedelta(seconds=s), TriggeredBy.API) for s in (30, 10, 0)]
    later = [NewJob("pong", now + timedelta(hours=1), TriggeredBy.API)]
    await store.enqueue([*due, *later], now)
    await store.claim("w1", 1, now, 60)  # the oldest due one runs; two stay available
    beat = now - timedelta(seconds=5)
    for pid, role, heartbeat, stopped in [
        ("a", "scheduler+worker", beat, None),
        ("b", "worker", beat, None),
        ("c", "worker", now - timedelta(minutes=5), None),  # lost
        ("d", "scheduler", beat, beat),
    ]:
        await store.heartbeat(ProcessorInfo(pid, role, "h", 1, "v", beat, heartbeat, stopped))

    families = await scrape(api.client)

    depth = families["tickwork_queue_depth"]
    assert {s.labels["state"]: s.value for s in depth} == {
        "scheduled": 1,
        "available": 2,
        "retrying": 0,
        "running": 1,
    }
    (oldest,) = families["tickwork_queue_oldest_due_age_seconds"]
    assert oldest.value == pytest.approx(10.0)
    last = families["tickwork_schedule_last_success_timestamp_seconds"]
    # The latest success's finish (started an hour ago, ran 3 s), not the later failure's.
    finished = (now - timedelta(hours=1) + timedelta(seconds=3)).timestamp()
    assert {s.labels["task"]: s.value for s in last} == {"ping": pytest.approx(finished)}
    tasks = {t.name: t for t in await store.list_tasks()}
    next_fire = families["tickwork_schedule_next_fire_timestamp_seconds"]
    assert {s.labels["task"]: s.value for s in next_fire} == {
        name: pytest.approx(t.next_fire_at.timestamp())
        for name, t in tasks.items()
        if t.next_fire_at is not None
    }
    assert {s.labels["task"] for s in next_fire} == {"ping", "pong"}
    processors = {
        (s.labels["role"], s.labels["state"]): s.value for s in families["tickwork_processors"]
    }
    assert processors == {
        ("scheduler", "running"): 1,
        ("scheduler", "lost"): 0,
        ("scheduler", "stopped"): 1,
        ("worker", "running"): 2,
        ("worker", "lost"): 1,
        ("worker", "stopped"): 0,
    }


async def test_figures_are_cached_for_five_seconds(api: Api) -> None:
    add_rollups(api.store, "report", "duration", "succeeded", [1.0])
    name = "tickwork_jobs_completed_total"

    async def completed() -> float:
        families = await scrape(api.client)
        return value(families["tickwork_jobs_completed"], name, task="report", status="succeeded")

    assert await completed() == 1
    add_rollups(api.store, "report", "duration", "succeeded", [1.0, 2.0])
    api.clock.advance(4.9)
    assert await completed() == 1  # the snapshot of 4.9 s ago
    api.clock.advance(0.1)
    assert await completed() == 3  # 5 s old: read again


async def test_metrics_need_jobs_read_unless_public(sqlite_url: str) -> None:
    async with running_api(sqlite_url) as api:
        trigger_only = await api.token(Role.OPERATOR, frozenset({Scope.JOBS_TRIGGER}))
        reader = await api.token(Role.READ_ONLY)
        response = await api.client.get("/metrics")
        assert response.status_code == 401
        assert error_of(response)["code"]
        async with api.as_token(trigger_only) as client:
            response = await client.get("/metrics")
            assert response.status_code == 403
            assert "jobs:read" in error_of(response)["message"]
        async with api.as_token(reader) as client:
            assert "tickwork_queue_depth" in await scrape(client)
    public = TEST_SETTINGS.replace(metrics_public=True)
    async with running_api(sqlite_url, public) as api:
        await api.token(Role.ADMIN)  # users exist, yet no credentials are needed
        assert "tickwork_processors" in await scrape(api.client)
        assert (await api.client.get("/api/runs")).status_code == 401  # only /metrics is open


async def test_openmetrics_when_asked(api: Api) -> None:
    response = await api.client.get(
        "/metrics", headers={"Accept": "application/openmetrics-text; version=1.0.0"}
    )
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/openmetrics-text")
    assert response.text.rstrip().endswith("# EOF")

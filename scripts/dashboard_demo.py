"""A demo deployment for the dashboard: a dozen job definitions of every kind, a day of run
history with a failing job or two, a queue with waiting and running work, processors, users,
heartbeat checks with ten days of pings (one of them down), and alert rules, one firing.

Used by ``scripts/screenshots.py`` (the pictures in docs/screenshots/) and by the browser
tests' accessibility check, so both look at the same, lived-in pages. Everything goes through
the use cases, except the history, which is written as a worker writes it (enqueue, claim,
complete through the store, with times in the past) so the rollups behind every figure are the
real ones, and the pings, recorded through the store at their past times; the alert rules are
then evaluated once, as a process's evaluator does.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from tickwork.api.deps import ApiContext
from tickwork.clock import FakeClock
from tickwork.config.alerts import alerts_from_table
from tickwork.config.checks import check_spec
from tickwork.domain.access import LOCAL, Role
from tickwork.domain.checks import CheckSource, new_check, ping_of
from tickwork.domain.jobs import (
    Completion,
    ErrorClass,
    Job,
    JobState,
    NewJob,
    Outcome,
    ResourceScope,
    ResourceUse,
    RunStatus,
    TriggeredBy,
)
from tickwork.domain.queries import ProcessorInfo, RunQuery
from tickwork.domain.tasks import HttpTarget, PythonTarget, ShellTarget, TaskDefinition, TaskSource
from tickwork.runtime.evaluator import Evaluator
from tickwork.store import SqlStore
from tickwork.store.checking import PingWrite
from tickwork.version import __version__

PASSWORD = "correct horse battery"
HISTORY_STEPS = 60  # one run per task and step: a full sparkline
STEP = timedelta(minutes=20)
WORKERS = ("worker-a1f3", "worker-b7c2")

DEFINITIONS = (
    TaskDefinition(
        name="nightly-backup",
        target=ShellTarget("pg_dump --format=custom app > /backups/app.dump"),
        schedule="0 3 * * *",
        timezone="Europe/Berlin",
        timeout_seconds=3600,
        tags=("ops",),
        description="Dump the application database to the backup volume.",
    ),
    TaskDefinition(
        name="send-digest",
        target=PythonTarget("examples.tasks:send_report"),
        schedule="0 9 * * MON-FRI",
        timezone="Europe/Berlin",
        kwargs={"recipient": "team@example.com"},
        tags=("mail",),
        description="The morning digest for the team.",
    ),
    TaskDefinition(
        name="heartbeat",
        target=PythonTarget("examples.tasks:heartbeat"),
        schedule="every 5m",
        tags=("ops",),
    ),
    TaskDefinition(
        name="cleanup-tmp",
        target=ShellTarget("find /tmp/app -mtime +1 -delete"),
        schedule="@hourly",
        tags=("ops",),
    ),
    TaskDefinition(
        name="billing-invoices",
        target=HttpTarget("https://billing.example.com/run", method="POST"),
        schedule="0 6 1 * *",
        tags=("billing",),
    ),
    TaskDefinition(
        name="reindex-search",
        target=ShellTarget("app reindex --all"),
        schedule="30 2 * * SUN",
        enabled=False,
        tags=("search",),
    ),
    TaskDefinition(
        name="resize-images",
        target=PythonTarget("examples.tasks:heartbeat"),
        tags=("media",),
        description="Queued by the web app for each upload.",
    ),
)
# Made over the API (so the dashboard may edit them), as a user would.
API_JOBS: tuple[dict[str, Any], ...] = (
    {
        "name": "import-orders",
        "schedule": "*/15 * * * *",
        "http": {"url": "https://shop.example.com/api/orders/export", "method": "GET"},
        "tags": ["shop"],
        "max_retries": 2,
    },
    {
        "name": "sync-crm",
        "schedule": "every 10m",
        "http": {"url": "https://crm.example.com/sync", "method": "POST"},
        "tags": ["crm"],
    },
    {
        "name": "load-warehouse",
        "http": {"url": "https://warehouse.example.com/load", "method": "POST"},
        "tags": ["shop"],
        "after": ["import-orders"],
    },
    {
        "name": "sales-dashboard",
        "schedule": "0 9 * * *",
        "timezone": "Europe/Berlin",
        "http": {"url": "https://bi.example.com/refresh", "method": "POST"},
        "tags": ["shop"],
        "requires": [{"job": "load-warehouse", "since": "08:00"}],
    },
    {
        "name": "weekly-report",
        "schedule": "0 8 * * MON",
        "timezone": "America/New_York",
        "http": {"url": "https://reports.example.com/weekly", "method": "POST"},
        "tags": ["reports"],
    },
)
# How each task's history goes: mean duration (s), how often it fails, and how.
HISTORY: dict[str, tuple[float, float, tuple[str, str, ErrorClass] | None]] = {
    "nightly-backup": (95.0, 0.0, None),
    "send-digest": (
        4.0,
        0.08,
        ("SMTPServerDisconnected", "Connection unexpectedly closed", ErrorClass.NETWORK),
    ),
    "heartbeat": (0.05, 0.0, None),
    "cleanup-tmp": (1.2, 0.0, None),
    "billing-invoices": (12.0, 0.0, None),
    "import-orders": (
        3.5,
        0.35,
        (
            "HTTPStatusError",
            "HTTP 503 from https://shop.example.com/api/orders/export",
            ErrorClass.SERVER_ERROR,
        ),
    ),
    "sync-crm": (
        7.0,
        0.03,
        ("ReadTimeout", "timed out reading from crm.example.com after 30 s", ErrorClass.TIMEOUT),
    ),
    "weekly-report": (20.0, 0.0, None),
}
# [alerts] of the demo: nobody listens at the webhook (its deliveries wait in the queue).
ALERTS: dict[str, Any] = {
    "rules": [
        {"name": "checks-down", "kind": "check_down", "channels": ["ops"]},
        {
            "name": "orders-failing",
            "kind": "consecutive_failures",
            "count": 5,
            "task": "import-orders",
            "channels": ["ops"],
        },
        {
            "name": "slow-backup",
            "kind": "long_run",
            "max": "1h",
            "task": "nightly-backup",
            "channels": ["ops"],
        },
    ],
    "channels": {
        "ops": {"type": "webhook", "url": "http://127.0.0.1:9/alerts", "secret": "demo-secret-0123"}
    },
}
# Heartbeat checks of jobs that run elsewhere: (table, hours between pings, hours since the
# last one, whether it is paused now).
CHECKS: tuple[tuple[dict[str, Any], float, float, bool], ...] = (
    ({"name": "db-backup", "period": "1d", "grace": "1h", "tags": ["ops"]}, 24.0, 5.0, False),
    (
        {"name": "invoice-export", "period": "1h", "grace": "10m", "tags": ["billing"]},
        1.0,
        3.2,
        False,
    ),
    ({"name": "cert-renewal", "cron": "0 4 * * 1", "timezone": "Europe/Berlin"}, 168.0, 60.0, True),
    ({"name": "crm-mirror", "period": "15m", "grace": "5m", "tags": ["crm"]}, 0.25, 0.1, False),
)
CHECK_DAYS = 10

TRACEBACK = """Traceback (most recent call last):
  File "/srv/app/jobs/{module}.py", line {line}, in run
    return client.fetch(batch)
  File "/srv/app/clients.py", line 214, in fetch
    raise {error_type}(message)
{error_type}: {message}
"""


@dataclass(frozen=True)
class Demo:
    """What the pages of the demo are about: IDs to open, the users made."""

    admin: str
    viewer: str
    run_id: int  # a finished run with output
    failed_run_id: int  # a failed run with a traceback
    pending_job_id: int  # a job waiting in the queue


async def populate(ctx: ApiContext, store: SqlStore, now: datetime) -> Demo:
    """Fill an empty, migrated database with the demo, as of ``now``."""
    service = ctx.service
    await service.sync_definitions(list(DEFINITIONS), [TaskSource.CODE])
    for table in API_JOBS:
        await service.create_task(table)
    await service.pause_task(
        "weekly-report", "the report service is being migrated", now + timedelta(days=2)
    )
    await ctx.accounts.create_user("ada", Role.ADMIN, PASSWORD, actor=LOCAL)
    await ctx.accounts.create_user("olga", Role.OPERATOR, PASSWORD, actor=LOCAL)
    await ctx.accounts.create_user("rita", Role.READ_ONLY, PASSWORD, actor=LOCAL)
    await _history(store, now)
    (ok,) = await service.query_runs(RunQuery(task_name="nightly-backup", limit=1))
    (failed,) = await service.query_runs(
        RunQuery(task_name="import-orders", statuses=[RunStatus.FAILED], limit=1)
    )
    pending = await _queue(ctx, store, now)
    await _checks(store, now)
    settings = alerts_from_table(ALERTS, {})
    ctx.service.ctx.alerts = settings  # as a process's [alerts]
    await Evaluator(store, settings, clock=FakeClock(now)).evaluate()
    for i, worker in enumerate(WORKERS):
        await store.heartbeat(
            ProcessorInfo(
                id=worker,
                role="scheduler+worker" if i == 0 else "worker",
                host=f"app-{i + 1}.internal",
                pid=4100 + i,
                version=__version__,
                started_at=now - timedelta(days=3, hours=i),
                heartbeat_at=now - timedelta(seconds=2 + i),
                stopped_at=None,
            )
        )
    return Demo("ada", "rita", ok.id, failed.id, pending)


async def _history(store: SqlStore, now: datetime) -> None:
    """``HISTORY_STEPS`` runs of each task in ``HISTORY``, one every ``STEP`` up to ``now``:
    each step is enqueued, claimed and completed as a worker does it."""
    rand = random.Random(12)
    names = sorted(HISTORY)
    for step in range(HISTORY_STEPS, 0, -1):
        due = (
            now - (step - 1) * STEP - timedelta(minutes=4) + timedelta(seconds=rand.uniform(0, 60))
        )
        new = [NewJob(name, due, TriggeredBy.SCHEDULER, fire_at=due) for name in names]
        await store.enqueue(new, due)
        started = due + timedelta(seconds=rand.uniform(0.05, 1.5))
        claimed = await store.claim(WORKERS[step % 2], len(new), started, 3600)
        await store.complete([_finished(job, due, started, rand) for job in claimed])


def _finished(job: Job, due: datetime, started: datetime, rand: random.Random) -> Completion:
    mean, fail_rate, error = HISTORY[job.task_name]
    took = max(0.01, rand.lognormvariate(0, 0.35) * mean)
    if error is not None and rand.random() < fail_rate:
        error_type, message, error_class = error
        outcome = Outcome.failure(
            error_type,
            message,
            error_class=error_class,
            traceback=TRACEBACK.format(
                module=job.task_name.replace("-", "_"),
                line=40 + len(job.task_name),
                error_type=error_type,
                message=message,
            ),
        )
    else:
        outcome = Outcome.success(
            {"ok": True},
            output=f"{job.task_name}: done in {took:.2f} s\n",
            resources=ResourceUse(
                ResourceScope.PROCESS,
                cpu_seconds=round(took * 0.4, 3),
                cpu_percent=40.0,
                peak_memory_mb=round(rand.uniform(40, 180), 1),
            ),
        )
    return Completion(
        job_id=job.id,
        task_name=job.task_name,
        attempt=job.attempt,
        triggered_by=job.triggered_by,
        worker_id=job.worker_id,
        started_at=started,
        finished_at=started + timedelta(seconds=took),
        outcome=outcome,
        next_state=JobState.FAILED if outcome.status is RunStatus.FAILED else JobState.SUCCEEDED,
        due_at=due,
    )


async def _queue(ctx: ApiContext, store: SqlStore, now: datetime) -> int:
    """Work in the queue now: uploads waiting to be resized (one of them running), one
    scheduled for later. Returns a waiting job's ID."""
    jobs = [
        NewJob(
            "resize-images",
            now - timedelta(seconds=40 - i),
            TriggeredBy.API,
            kwargs={"upload": 5120 + i},
        )
        for i in range(6)
    ]
    ids = await store.enqueue(jobs, now)
    await store.claim(WORKERS[0], 1, now, 3600)
    later = NewJob(
        "resize-images", now + timedelta(hours=2), TriggeredBy.API, kwargs={"upload": 6001}
    )
    await store.enqueue([later], now)
    return ids[-1]


async def _checks(store: SqlStore, now: datetime) -> None:
    """``CHECKS`` made ``CHECK_DAYS`` ago, each pinged (start, then success with a body) every
    so many hours since, up to its last ping; one run of invoice-export reports a failure."""
    rand = random.Random(7)
    made = now - timedelta(days=CHECK_DAYS, hours=2)
    for table, every, since, paused in CHECKS:
        check = new_check(check_spec(table), CheckSource.API, made)
        await store.create_check(check)
        uuid = check.uuid
        last = now - timedelta(hours=since)
        steps = int(CHECK_DAYS * 24 / every)
        for step in range(steps, -1, -1):
            end = last - timedelta(hours=every * step)
            took = timedelta(seconds=rand.uniform(20, 90) * min(every, 2.0))
            rid = f"run-{step}"
            start = ping_of("start", end - took, rid=rid, method="POST")
            await store.record_ping(PingWrite(start, uuid=uuid))
            failed = table["name"] == "invoice-export" and step == 30
            body = b"exit 1: upstream refused" if failed else b"done\n"
            action = "1" if failed else None
            write = PingWrite(ping_of(action, end, rid=rid, body=body, method="POST"), uuid=uuid)
            await store.record_ping(write)
        if paused:
            await store.pause_check(uuid, now - timedelta(hours=since / 2))

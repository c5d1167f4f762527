"""How both adapters show the weekly report as JSON (``GET /api/report``, ``tickwork report
--json``): one pydantic model per part of ``domain.report.Report``, built by ``report_out``.
Kept beside ``wire.py`` (same layer, same habits) so that the report's shapes do not grow it."""

from __future__ import annotations

from datetime import datetime

from tickwork.domain.report import Report
from tickwork.wire import Shape


class ReportJobOut(Shape):
    task: str
    schedule: str | None
    runs: int  # every attempt that ended in the range (retries and manual runs too)
    succeeded: int
    failed: int  # failed, timed out, cancelled
    expected: int | None  # fires of its schedule in the range; None without a schedule
    expected_exact: bool  # false: counting stopped early, "at least"
    missed: int
    missed_by_reason: dict[str, int]
    success_rate: float | None
    p50_seconds: float | None
    p95_seconds: float | None
    previous_success_rate: float | None
    previous_p50_seconds: float | None
    previous_p95_seconds: float | None
    p95_change: float | None  # 0.25: 25 % slower than the span before


class ReportFailureOut(Shape):
    fingerprint: str
    error_type: str | None
    message: str
    count: int
    tasks: dict[str, int]
    first_seen: datetime
    last_seen: datetime


class ReportIncidentOut(Shape):
    rule: str
    subject: str
    started_at: datetime | None  # None: before the oldest transition kept
    ended_at: datetime | None  # None: still firing
    why: str
    lasted_seconds: float


class ReportPausedOut(Shape):
    task: str
    paused_at: datetime
    paused_by: str
    reason: str
    until: datetime | None


class ReportAutoDisabledOut(Shape):
    task: str
    since: datetime | None
    trial_queued: bool


class ReportCheckOut(Shape):
    name: str
    status: str  # at the report's end
    uptime: float | None  # (up + late) / (up + late + down); None: nothing was expected
    up_seconds: float
    late_seconds: float
    down_seconds: float
    paused_seconds: float
    unknown_seconds: float  # before the check was made, or before its oldest ping kept


class ReportTotalsOut(Shape):
    runs: int
    succeeded: int
    failed: int
    success_rate: float | None
    expected: int
    missed: int


class ReportOut(Shape):
    start: datetime  # the range covered: whole periods of the statistics, up to end
    end: datetime
    previous_start: datetime  # the span compared with: [previous_start, start)
    generated_at: datetime
    totals: ReportTotalsOut
    jobs: list[ReportJobOut]  # those with failures or missed fires first
    failures: list[ReportFailureOut]  # the most failed jobs first
    failure_groups: int
    failed_jobs: int
    failures_capped: bool
    incidents: list[ReportIncidentOut]  # the longest first
    incident_count: int
    paused: list[ReportPausedOut]
    disabled: list[str]
    auto_disabled: list[ReportAutoDisabledOut]  # held by auto-rescheduling's circuit breaker
    queue_wait_p95_seconds: float | None
    previous_queue_wait_p95_seconds: float | None
    checks: list[ReportCheckOut]  # empty without heartbeat checks


def report_out(r: Report) -> ReportOut:
    return ReportOut(
        start=r.start,
        end=r.end,
        previous_start=r.previous_start,
        generated_at=r.generated_at,
        totals=ReportTotalsOut(
            runs=r.runs,
            succeeded=r.succeeded,
            failed=r.failed,
            success_rate=r.success_rate,
            expected=r.expected,
            missed=r.missed,
        ),
        jobs=[
            ReportJobOut(
                task=j.task_name,
                schedule=j.schedule,
                runs=j.runs,
                succeeded=j.succeeded,
                failed=j.failed,
                expected=j.expected,
                expected_exact=j.expected_exact,
                missed=j.missed_total,
                missed_by_reason=dict(j.missed),
                success_rate=j.success_rate,
                p50_seconds=j.p50_seconds,
                p95_seconds=j.p95_seconds,
                previous_success_rate=j.previous_success_rate,
                previous_p50_seconds=j.previous_p50_seconds,
                previous_p95_seconds=j.previous_p95_seconds,
                p95_change=j.p95_change,
            )
            for j in r.jobs
        ],
        failures=[
            ReportFailureOut(
                fingerprint=f.fingerprint,
                error_type=f.error_type,
                message=f.message,
                count=f.count,
                tasks=dict(f.tasks),
                first_seen=f.first_seen,
                last_seen=f.last_seen,
            )
            for f in r.failures
        ],
        failure_groups=r.failure_groups,
        failed_jobs=r.failed_jobs,
        failures_capped=r.failures_capped,
        incidents=[
            ReportIncidentOut(
                rule=i.rule,
                subject=i.subject,
                started_at=i.started_at,
                ended_at=i.ended_at,
                why=i.why,
                lasted_seconds=i.lasted_seconds,
            )
            for i in r.incidents
        ],
        incident_count=r.incident_count,
        paused=[
            ReportPausedOut(
                task=p.task_name,
                paused_at=p.paused_at,
                paused_by=p.paused_by,
                reason=p.reason,
                until=p.until,
            )
            for p in r.paused
        ],
        disabled=list(r.disabled),
        auto_disabled=[
            ReportAutoDisabledOut(task=a.task_name, since=a.since, trial_queued=a.trial_queued)
            for a in r.auto_disabled
        ],
        queue_wait_p95_seconds=r.queue_wait_p95_seconds,
        previous_queue_wait_p95_seconds=r.previous_queue_wait_p95_seconds,
        checks=[
            ReportCheckOut(
                name=c.name,
                status=c.status,
                uptime=c.uptime,
                up_seconds=c.up_seconds,
                late_seconds=c.late_seconds,
                down_seconds=c.down_seconds,
                paused_seconds=c.paused_seconds,
                unknown_seconds=c.unknown_seconds,
            )
            for c in r.checks
        ],
    )

"""Run analytics over the API: per-task figures over a time window, and insights from them.

Insights: tasks that always fail, run close to their timeout, the slowest, the busiest hours, and
the findings of every insight rule with what to do."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel

from tickwork.service.analytics import Insights
from tickwork.service.queries import RunStats


class TaskStatsOut(BaseModel):
    task: str
    runs: int
    succeeded: int
    failed: int  # failed, timeout and cancelled
    success_rate: float | None  # succeeded / (succeeded + failed); null without either
    avg_duration_seconds: float | None
    p95_duration_seconds: float | None
    max_duration_seconds: float | None


def stats_out(stats: RunStats) -> TaskStatsOut:
    decided = stats.succeeded + stats.failed
    return TaskStatsOut(
        task=stats.task_name,
        runs=stats.runs,
        succeeded=stats.succeeded,
        failed=stats.failed,
        success_rate=None if decided == 0 else stats.succeeded / decided,
        avg_duration_seconds=stats.avg_duration_seconds,
        p95_duration_seconds=stats.p95_duration_seconds,
        max_duration_seconds=stats.max_duration_seconds,
    )


class MetricsOut(BaseModel):
    start: datetime
    end: datetime
    tasks: list[TaskStatsOut]


class NearTimeoutOut(BaseModel):
    stats: TaskStatsOut
    timeout_seconds: float


class HourOut(BaseModel):
    hour: int  # UTC hour of day
    runs: int


class FindingOut(BaseModel):
    """One insight rule's finding (``domain.insights``): what stands out, what to do, and the
    figures it rests on."""

    rule: str
    task: str | None  # None: the whole deployment
    message: str
    suggestion: str
    evidence: dict[str, float | int | str | None]


class InsightsOut(BaseModel):
    start: datetime
    end: datetime
    always_failing: list[TaskStatsOut]
    near_timeout: list[NearTimeoutOut]
    busiest_hours: list[HourOut]
    slowest: list[TaskStatsOut]
    findings: list[FindingOut]


def insights_out(start: datetime, end: datetime, insights: Insights) -> InsightsOut:
    return InsightsOut(
        start=start,
        end=end,
        always_failing=[stats_out(s) for s in insights.always_failing],
        near_timeout=[
            NearTimeoutOut(stats=stats_out(s), timeout_seconds=t) for s, t in insights.near_timeout
        ],
        busiest_hours=[HourOut(hour=h, runs=n) for h, n in insights.busiest_hours],
        slowest=[stats_out(s) for s in insights.slowest],
        findings=[
            FindingOut(
                rule=f.rule,
                task=f.task,
                message=f.message,
                suggestion=f.suggestion,
                evidence=f.evidence,
            )
            for f in insights.findings
        ],
    )

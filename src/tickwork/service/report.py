"""``Reports``: the weekly report (D10) of a range back from now (default the last 7 days),
made from what the other use cases already compute — the rollup statistics of the range and
of the span before it (runs, success rates, p50/p95, queue wait; never a scan of the runs
table), missed fires counted per task, the failure groups of ``service/failures.py``, the
alerts' stored transitions and states — and sent by e-mail through an ``[alerts]`` e-mail
channel to the ``[report]`` recipients.

It is a tickwork schedule itself: the built-in task ``tickwork.report`` (``report_definition``)
fires on ``[report] schedule``, and a worker of a process with ``[report]`` runs it through
``ScheduledReport``, so a refused delivery is retried with backoff like any job.

The statistics widen a range to the whole periods they keep (UTC days for ranges of 3 days
and more), so the report covers ``[first day's start, now)``; runs, expected fires, missed
fires, failures and incidents are all counted over that same span.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from tickwork.callables import Resolver
from tickwork.domain.alert_records import HISTORY_LIMIT, AlertKey, TransitionRecord
from tickwork.domain.alert_states import AlertState
from tickwork.domain.autoschedule import Breaker
from tickwork.domain.channels import EmailChannel
from tickwork.domain.report import (
    TOP_FAILURES,
    TOP_INCIDENTS,
    AutoDisabledJob,
    CheckUptime,
    FailureLine,
    JobLine,
    PausedJob,
    Report,
    count_fires,
    incidents,
    job_line,
    needs_earlier,
    ordered_jobs,
)
from tickwork.domain.schedules import parse_schedule
from tickwork.domain.stats import TASKS, TaskFigures
from tickwork.domain.tasks import PythonTarget, RetryPolicy, Task, TaskDefinition, TaskSource
from tickwork.errors import ConfigError, Fail, Retry
from tickwork.runtime.notify import DeliveryError, Notifier
from tickwork.runtime.notify.report_mail import (
    PAGE,
    RenderedReport,
    render,
    render_html,
    report_message,
)
from tickwork.service.activity import since_of
from tickwork.service.alerts import Alerts
from tickwork.service.context import Context
from tickwork.service.failures import Failures
from tickwork.service.jobs import Jobs
from tickwork.service.stats import MAX_RANGE_DAYS, StatsRequest, stats_report

__all__ = [
    "REPORT_PATH",
    "REPORT_TASK",
    "RenderedReport",
    "Reports",
    "ScheduledReport",
    "SentReport",
    "UptimeSource",
    "report_definition",
    "send_report",
]

DEFAULT_SINCE = "7d"
REPORT_TASK = "tickwork.report"
REPORT_PATH = "tickwork.service.report:send_report"
# 6 retries from a minute, doubling up to an hour: an SMTP server down for a morning still
# delivers the report the same day.
REPORT_RETRY = RetryPolicy(max_retries=6, base_seconds=60.0, factor=2.0, cap_seconds=3600.0)
REPORT_TIMEOUT_SECONDS = 300.0
# Pages of alert transitions read back to find when the incidents of the range started.
_HISTORY_PAGES = 20
_TASKS_ONLY = frozenset({TASKS})

# Heartbeat checks' uptime over ``[start, end)`` (``Checks.uptimes``); None: no such section.
UptimeSource = Callable[[datetime, datetime], Awaitable[Sequence[CheckUptime]]]


@dataclass(frozen=True)
class SentReport:
    channel: str
    recipients: tuple[str, ...]
    subject: str


def report_definition(schedule: str, timezone: str) -> TaskDefinition:
    """The built-in task that sends the report, on the ``[report]`` schedule."""
    return TaskDefinition(
        name=REPORT_TASK,
        target=PythonTarget(REPORT_PATH),
        schedule=schedule,
        timezone=timezone,
        timeout_seconds=REPORT_TIMEOUT_SECONDS,
        retry=REPORT_RETRY,
        description="Sends the weekly report by e-mail (built in)",
        tags=("tickwork",),
        source=TaskSource.BUILTIN,
    )


async def send_report(since: str | None = None) -> str:
    """The built-in task as named in its definition; a process with ``[report]`` resolves
    ``REPORT_PATH`` to its ``ScheduledReport`` instead, so this runs only in a worker
    configured without it."""
    raise Fail("this worker has no [report] settings; cannot send the report")


class Reports:
    def __init__(
        self,
        ctx: Context,
        failures: Failures,
        alerts: Alerts,
        checks: UptimeSource | None = None,
    ) -> None:
        self.ctx = ctx
        self.failures = failures
        self.alerts = alerts
        # Heartbeat checks' uptime; their section is left out without it, or without checks.
        self.checks = checks

    async def build(self, since: str | None = None) -> Report:
        """The report of ``[since, now)`` (``7d``, or an ISO time with its offset; default
        ``[report] since``, else 7 days), widened to the statistics' whole periods.
        ``ConfigError`` naming ``since`` for a bad or too long range."""
        ctx = self.ctx
        store = ctx.store
        now = ctx.clock.now()
        text = since if since is not None else ctx.report.since if ctx.report else DEFAULT_SINCE
        asked = since_of(text, now)
        if asked >= now:
            raise ConfigError(f"must be in the past, got {text[:40]!r}", field="since")
        if now - asked > timedelta(days=MAX_RANGE_DAYS):
            raise ConfigError(f"at most {MAX_RANGE_DAYS} days back, got {text!r}", field="since")
        current = await stats_report(store, StatsRequest(asked, now), _TASKS_ONLY)
        start = current.first_bucket
        previous, tasks, missed, failed, states, transitions = await asyncio.gather(
            stats_report(store, StatsRequest(start - (now - start), start), _TASKS_ONLY),
            store.list_tasks(),
            store.missed_fire_counts(start, now),
            self.failures.report(since=start.isoformat()),
            self._alert_states(),
            self._transitions(start),
        )
        checks = () if self.checks is None else tuple(await self.checks(start, now))
        groups = sorted(failed.groups, key=lambda g: (-g.count, -g.last_seen.timestamp()))
        found = incidents(transitions, states, start, now)
        own = [t for t in tasks if not t.removed and t.definition.source is not TaskSource.BUILTIN]
        return Report(
            start=start,
            end=now,
            previous_start=previous.first_bucket,
            generated_at=now,
            jobs=self._jobs(tasks, current.tasks, previous.tasks, missed, start, now),
            failures=tuple(
                FailureLine(
                    g.fingerprint,
                    g.error_type,
                    g.message,
                    g.count,
                    g.tasks,
                    g.first_seen,
                    g.last_seen,
                )
                for g in groups[:TOP_FAILURES]
            ),
            failure_groups=len(groups),
            failed_jobs=failed.read,
            failures_capped=failed.capped,
            incidents=tuple(found[:TOP_INCIDENTS]),
            incident_count=len(found),
            paused=tuple(
                PausedJob(
                    t.name, t.pause.paused_at, t.pause.paused_by, t.pause.reason, t.pause.until
                )
                for t in sorted(own, key=lambda t: t.name)
                if t.pause is not None and t.paused(now)
            ),
            disabled=tuple(
                sorted(t.name for t in own if t.definition.schedule and not t.definition.enabled)
            ),
            auto_disabled=tuple(
                AutoDisabledJob(t.name, t.auto.breaker_at, t.auto.breaker is Breaker.HALF_OPEN)
                for t in sorted(own, key=lambda t: t.name)
                if t.auto.held
            ),
            queue_wait_p95_seconds=current.overall.waits.quantile(0.95),
            previous_queue_wait_p95_seconds=previous.overall.waits.quantile(0.95),
            checks=checks,
        )

    def _jobs(
        self,
        tasks: Sequence[Task],
        current: Sequence[TaskFigures],
        previous: Sequence[TaskFigures],
        missed: dict[str, dict[str, int]],
        start: datetime,
        end: datetime,
    ) -> tuple[JobLine, ...]:
        now = {f.task_name: f for f in current}
        before = {f.task_name: f for f in previous}
        defined = {t.name: t for t in tasks if not t.removed}
        builtin = {t.name for t in tasks if t.definition.source is TaskSource.BUILTIN}
        # Jobs often share a schedule: each one's fires are counted once.
        counted: dict[tuple[str, str, datetime, datetime], tuple[int, bool] | None] = {}
        lines = []
        for name in sorted((set(defined) | set(now) | set(missed)) - builtin):
            task = defined.get(name)
            expected: tuple[int, bool] | None = None
            schedule = None if task is None else task.definition.schedule
            if task is not None and schedule and task.definition.enabled:
                # A pause going on now has not recorded its missed fires yet (they are when it
                # ends): its fires are not expected.
                until = end
                if task.pause is not None and task.paused(end):
                    until = min(end, max(start, task.pause.paused_at))
                key = (schedule, task.definition.timezone, max(start, task.created_at), until)
                if key not in counted:
                    counted[key] = _fires(*key)
                expected = counted[key]
            if name not in now and name not in missed and not (expected and expected[0]):
                continue  # an on-demand job that did nothing: not news
            lines.append(
                job_line(
                    name, schedule, now.get(name), before.get(name), expected, missed.get(name, {})
                )
            )
        return ordered_jobs(lines)

    async def _alert_states(self) -> dict[AlertKey, AlertState]:
        if not self.ctx.alerts.rules:
            return {}
        return {
            AlertKey(view.rule.name, s.subject): s.state
            for view in await self.alerts.rules()
            for s in view.subjects
        }

    async def _transitions(self, start: datetime) -> list[TransitionRecord]:
        """The stored transitions back to ``start``, and further back (a few pages at most)
        while a recovery in the range lacks its firing."""
        read: list[TransitionRecord] = []
        before: int | None = None
        for _ in range(_HISTORY_PAGES):
            page = await self.alerts.history(before_id=before, limit=HISTORY_LIMIT)
            read += page
            if len(page) < HISTORY_LIMIT:
                break
            before = page[-1].id
            if page[-1].at < start and not needs_earlier(read, start):
                break
        return read

    # --- rendering and sending ---------------------------------------------------------------
    def render(self, report: Report) -> RenderedReport:
        """The e-mail's subject, HTML part and text part (links to ``[alerts] base_url``)."""
        return render(report, self.ctx.alerts.base_url)

    def page(self, report: Report) -> str:
        """The same template drawn for the dashboard's frame (classes, links within it)."""
        return render_html(report, PAGE, base_url="")

    async def send(self, report: Report) -> SentReport:
        """Send ``report`` to the ``[report]`` recipients through its e-mail channel now;
        ``ConfigError`` without ``[report]``, ``DeliveryError`` if the server refused it.
        Audited (the recipients' count and the subject, never the channel's secret)."""
        ctx = self.ctx
        settings = ctx.report
        if settings is None:
            raise ConfigError(
                "no [report] table in the configuration: set recipients and an e-mail channel",
                field="report",
            )
        channel = ctx.alerts.channels.get(settings.channel)
        if not isinstance(channel, EmailChannel):
            raise ConfigError(
                f"no e-mail channel {settings.channel!r} in [alerts.channels]",
                field="report.channel",
            )
        rendered = self.render(report)
        message = report_message(rendered, channel.sender, settings.recipients, report.end)
        notifier = Notifier(base_url=ctx.alerts.base_url, clock=ctx.clock)
        try:
            await notifier.send_email(channel, message)
        finally:
            await notifier.aclose()
        await ctx.audit(
            "report.send",
            "report",
            settings.channel,
            after={"recipients": len(settings.recipients), "subject": rendered.subject},
        )
        return SentReport(settings.channel, settings.recipients, rendered.subject)


class ScheduledReport:
    """The built-in task's body in a process with ``[report]``: make the report and send it;
    a refusal that may pass is a ``Retry`` (the job is retried with backoff), others ``Fail``."""

    def __init__(self, ctx: Context, checks: UptimeSource | None = None) -> None:
        self.ctx = ctx
        self.checks = checks

    def resolver(self, base: Resolver) -> Resolver:
        """``base``, with the built-in task's path resolved to this report."""

        def resolve(path: str) -> Any:
            return self.run if path == REPORT_PATH else base(path)

        return resolve

    async def run(self, since: str | None = None) -> str:
        ctx = self.ctx
        reports = Reports(ctx, Failures(ctx, Jobs(ctx)), Alerts(ctx), self.checks)
        report = await reports.build(since)
        try:
            sent = await reports.send(report)
        except DeliveryError as exc:
            if exc.retryable:
                raise Retry(str(exc), after=exc.retry_after_seconds) from None
            raise Fail(str(exc)) from None
        return f"report sent to {len(sent.recipients)} recipient(s) through {sent.channel}"


def _fires(
    expression: str, timezone: str, start: datetime, end: datetime
) -> tuple[int, bool] | None:
    try:
        schedule = parse_schedule(expression, timezone)
    except ConfigError:
        return None  # a stored schedule this build cannot read: no expectation
    return count_fires(schedule, start, end)

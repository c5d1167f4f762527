"""The weekly report (``service/report.py``) on a real store of each backend: its figures
against known runs, missed fires, failures, pauses and alert transitions written through the
store; the HTML parsed and its figures read back; the text part; bad ranges."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import pytest

from tests.service.report_data import HOURLY_BEFORE, HOURLY_NOW, ReportPage, alert_settings, seed
from tickwork.clock import FakeClock
from tickwork.domain.stats import TASKS
from tickwork.errors import ConfigError
from tickwork.runtime.notify.report_mail import render_html, render_text
from tickwork.service.context import Context
from tickwork.service.facade import Service
from tickwork.service.stats import StatsRequest, stats_report
from tickwork.store import SqlStore

# A Monday 09:00 UTC: the default schedule's time. The report covers [Mon 25 May 00:00, now).
NOW = datetime(2026, 6, 1, 9, 0, tzinfo=UTC)
START = datetime(2026, 5, 25, tzinfo=UTC)
SQRT2 = math.sqrt(2)


@pytest.fixture
async def service(store: SqlStore) -> Service:
    await seed(store, NOW)
    return Service(Context(store, clock=FakeClock(NOW), resolve=None, alerts=alert_settings()))


def exact_quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, math.ceil(q * len(ordered)) - 1)]


def near(figure: float | None, exact: float) -> bool:
    """Within one histogram bucket (a factor of √2) of the exact value."""
    return figure is not None and exact / SQRT2 <= figure <= exact * SQRT2


async def test_figures_against_known_runs(service: Service, store: SqlStore) -> None:
    report = await service.report(since="7d")
    assert (report.start, report.end, report.generated_at) == (START, NOW, NOW)
    assert report.previous_start == START - timedelta(days=8)  # 7 d 9 h back, whole days

    jobs = {j.task_name: j for j in report.jobs}
    # Builtin tasks, idle on-demand jobs and disabled ones have no line.
    assert set(jobs) == {"hourly", "daily", "adhoc", "newjob", "nightly"}
    # Those needing attention first (the lowest success rate first), then by name.
    assert [j.task_name for j in report.jobs] == ["adhoc", "hourly", "daily", "newjob", "nightly"]

    hourly = jobs["hourly"]
    assert (hourly.runs, hourly.succeeded, hourly.failed) == (12, 10, 2)
    assert hourly.success_rate == pytest.approx(10 / 12)
    # Every hour from Mon 00:00 to 08:00 a week later: 7 × 24 + 9 fires.
    assert (hourly.expected, hourly.expected_exact) == (177, True)
    assert hourly.missed == {"no_scheduler": 2}  # the one before the range is not counted
    durations = [*HOURLY_NOW, 1.0, 1.0]  # the two failed runs lasted 1 s each
    assert near(hourly.p50_seconds, exact_quantile(durations, 0.5))
    assert near(hourly.p95_seconds, exact_quantile(durations, 0.95))
    assert near(hourly.previous_p95_seconds, exact_quantile(HOURLY_BEFORE, 0.95))
    assert hourly.p95_change is not None and hourly.p95_change > 1.0  # slower than before
    assert hourly.previous_success_rate == 1.0

    daily = jobs["daily"]  # "every 1d": each UTC midnight of the range
    assert (daily.runs, daily.expected, daily.success_rate) == (7, 8, 1.0)
    assert near(daily.p95_seconds, 30.0) and daily.p95_change is None  # no runs before
    adhoc = jobs["adhoc"]
    assert (adhoc.runs, adhoc.expected, adhoc.success_rate) == (2, None, 0.5)
    # Created 20.5 h ago: the fires from 13:00 yesterday to 08:00 today.
    assert (jobs["newjob"].expected, jobs["newjob"].runs) == (20, 0)
    # Paused two days ago: its fires before the pause (02:00 of 25..30 May) only.
    assert jobs["nightly"].expected == 6

    assert (report.runs, report.succeeded, report.failed) == (21, 18, 3)
    assert report.expected == 177 + 8 + 20 + 6 and report.missed == 2

    # Failure groups from service/failures.py, the most failed jobs first.
    assert [(f.error_type, f.message, f.count, f.tasks) for f in report.failures] == [
        ("ValueError", "row <n> rejected", 2, (("hourly", 2),)),
        ("OSError", "disk full", 1, (("adhoc", 1),)),
    ]
    assert (report.failure_groups, report.failed_jobs, report.failures_capped) == (2, 3, False)

    # Incidents: the longest first; the one that began before the range with its real start;
    # the one still firing lasts until now; the one before the range is left out.
    assert [(i.subject, i.lasted_seconds, i.ongoing) for i in report.incidents] == [
        ("task:daily", 3 * 86400.0, False),
        ("task:adhoc", 86400.0, True),
        ("task:hourly", 3 * 3600.0, False),
    ]
    assert report.incidents[0].started_at == START - timedelta(days=2)
    assert report.incidents[0].why == "3 failures in a row"
    assert report.incident_count == 3

    [paused] = report.paused
    assert (paused.task_name, paused.paused_by, paused.reason) == (
        "nightly",
        "cli:ada",
        "database migration",
    )
    assert report.disabled == ("off",)
    assert report.checks == ()  # no heartbeat checks in this build: the section is left out

    # The queue's wait is the statistics' own figure of the same span.
    stats = await stats_report(
        store, StatsRequest(NOW - timedelta(days=7), NOW), frozenset({TASKS})
    )
    assert report.queue_wait_p95_seconds == stats.overall.waits.quantile(0.95)


async def test_html_parsed_and_text(service: Service) -> None:
    report = await service.report()
    mail = ReportPage(render_html(report))
    # An e-mail: inline styles and tables, no class, script, style sheet or image.
    assert mail.styled > 50 and mail.classed == 0
    assert {"table", "html", "body"} <= mail.tags
    assert not mail.tags & {"script", "link", "img", "style", "iframe"}
    assert mail.figures["runs"] == "21"
    assert mail.figures["success_rate"] == "85.7%"  # 18 of 21
    assert mail.figures["expected"] == "211" and mail.figures["missed"] == "2"
    assert mail.figures["incidents"] == "3"
    hourly = mail.rows["job"]["hourly"]
    assert hourly["runs"] == "12" and hourly["expected"] == "177" and hourly["missed"] == "2"
    assert hourly["success"] == "83.3%" and hourly["p95_change"].startswith("+")
    assert mail.rows["job"]["adhoc"]["expected"] == "—"
    assert list(mail.rows["job"]) == ["adhoc", "hourly", "daily", "newjob", "nightly"]
    assert [r["count"] for r in mail.rows["fingerprint"].values()] == ["2", "1"]
    incidents = mail.rows["incident"]
    assert list(incidents) == [f"etl-failing/task:{s}" for s in ("daily", "adhoc", "hourly")]
    assert incidents["etl-failing/task:daily"]["lasted"] == "3d"
    assert incidents["etl-failing/task:adhoc"]["resolved"] == "still firing"
    assert set(mail.rows["paused"]) == {"nightly"} and set(mail.rows["disabled"]) == {"off"}
    assert mail.rows["check"] == {}

    # The dashboard's drawing: the same figures, classes instead of styles, no document.
    page = ReportPage(render_html(report, "page", base_url=""))
    assert page.styled == 0 and page.classed > 50 and "html" not in page.tags
    assert page.figures == mail.figures and page.rows == mail.rows

    text = render_text(report, "https://tw.example.com")
    assert "Runs: 21   Success rate: 85.7%   Expected fires: 211   Missed fires: 2" in text
    line = next(x for x in text.splitlines() if x.strip().startswith("hourly"))
    assert line.split()[:5] == ["hourly", "12", "177", "2", "83.3%"]
    assert "2 x ValueError: row <n> rejected" in text
    assert "3d  etl-failing on task:daily" in text
    assert "nightly: paused by cli:ada (database migration), until resumed" in text
    assert "Dashboard: https://tw.example.com/report" in text


async def test_ranges(service: Service) -> None:
    short = await service.report(since="12h")  # hour rows: the range starts on the hour
    assert short.start == NOW - timedelta(hours=12)
    # Due in the range (nothing ran): 12 hourly fires, and the daily one at midnight.
    assert {j.task_name: j.expected for j in short.jobs} == {"hourly": 12, "newjob": 12, "daily": 1}
    for bad, word in (("7 weeks", "since"), ("400d", "since"), ("2027-01-01T00:00:00Z", "since")):
        with pytest.raises(ConfigError) as caught:
            await service.report(since=bad)
        assert caught.value.field == word, bad

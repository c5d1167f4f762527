"""Heartbeat checks' uptime in the weekly report, on a real store of each backend: checks made
and pinged through the use cases at known times (a fake clock), the report's HTML parsed and
its uptime figures checked against those pings; the JSON shape and the text part agree."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tests.service.report_data import ReportPage
from tickwork.clock import FakeClock
from tickwork.runtime.notify.report_mail import render_html, render_text
from tickwork.service.checks import PingRequest
from tickwork.service.context import Context
from tickwork.service.facade import Service
from tickwork.store import SqlStore
from tickwork.wire_report import report_out

NOW = datetime(2026, 6, 1, 9, 0, tzinfo=UTC)
START = datetime(2026, 5, 25, tzinfo=UTC)  # 7d back from NOW, widened to the whole day
HOUR = 3600.0


async def pinged_service(store: SqlStore) -> Service:
    """``backup``: hourly, grace 10 min, made 2 days before the range; pinged every hour on
    the hour until Fri 29 May 12:00, a failure at 14:00, pings again from 17:00 to 20:00, then
    silent. ``paused``: pinged once, paused since Sun 31 May 00:00. ``fresh``: never pinged."""
    clock = FakeClock(START - timedelta(days=2))
    service = Service(Context(store, clock=clock, resolve=None))
    await service.checks.create({"name": "backup", "period": "1h", "grace": "10m"})
    await service.checks.create({"name": "paused", "period": "1d", "grace": "1h"})
    await service.checks.create({"name": "fresh", "period": "1d"})

    async def ping(name: str, when: datetime, action: str | None = None) -> None:
        clock.set(when)
        await service.checks.ping(PingRequest(action=action), name=name)

    hour = START - timedelta(hours=1)
    while hour <= datetime(2026, 5, 29, 12, tzinfo=UTC):
        await ping("backup", hour)
        hour += timedelta(hours=1)
    await ping("backup", datetime(2026, 5, 29, 14, tzinfo=UTC), "fail")
    for h in (17, 18, 19, 20):
        await ping("backup", datetime(2026, 5, 29, h, tzinfo=UTC))
    await ping("paused", datetime(2026, 5, 30, 12, tzinfo=UTC))
    clock.set(datetime(2026, 5, 31, tzinfo=UTC))
    await service.checks.pause("paused")
    clock.set(NOW)
    return service


@pytest.fixture
async def service(store: SqlStore) -> Service:
    return await pinged_service(store)


async def test_uptime_against_known_pings(service: Service) -> None:
    report = await service.report(since="7d")
    assert (report.start, report.end) == (START, NOW)
    lines = {c.name: c for c in report.checks}
    assert list(lines) == ["backup", "fresh", "paused"]

    backup = lines["backup"]
    # Up to Fri 13:00 (due after the 12:00 ping), late to 13:10, down (the failure at 14:00
    # keeps it down) to the ping at 17:00, up to 21:00, late to 21:10, then down until now.
    up = (datetime(2026, 5, 29, 13, tzinfo=UTC) - START).total_seconds() + 4 * HOUR
    late, down = (
        1200.0,
        (3 * HOUR + 50 * 60) + (NOW - datetime(2026, 5, 29, 21, 10, tzinfo=UTC)).total_seconds(),
    )
    assert (backup.up_seconds, backup.late_seconds, backup.down_seconds) == (up, late, down)
    assert backup.uptime == pytest.approx((up + late) / (up + late + down))
    assert backup.status == "down" and backup.unknown_seconds == 0.0

    paused = lines["paused"]
    # New to its first ping (Sat 12:00), up until the pause began (Sun 00:00), then paused.
    assert paused.up_seconds == 12 * HOUR and paused.down_seconds == 0.0
    assert paused.paused_seconds == (NOW - datetime(2026, 5, 31, tzinfo=UTC)).total_seconds()
    assert paused.uptime == 1.0 and paused.status == "paused"
    fresh = lines["fresh"]
    assert fresh.uptime is None and fresh.status == "new"

    mail = ReportPage(render_html(report))
    rows = mail.rows["check"]
    assert list(rows) == ["backup", "fresh", "paused"]
    share = (up + late) / (up + late + down)
    shown = f"{int(share * 10_000) / 100:.2f}".rstrip("0").rstrip(".") + "%"
    assert rows["backup"]["uptime"] == shown and rows["backup"]["status"] == "down"
    assert rows["backup"]["late"] == "20m" and rows["backup"]["down"] == "2d15h40m"
    assert rows["paused"]["uptime"] == "100%" and rows["paused"]["paused"] == "1d9h"
    assert rows["fresh"]["uptime"] == "—"
    page = ReportPage(render_html(report, "page", base_url=""))
    assert page.rows["check"] == rows

    text = render_text(report, None)
    line = next(x for x in text.splitlines() if x.strip().startswith("backup"))
    assert line.split() == ["backup", "down", shown, "20m", "2d15h40m", "—"]
    shape = {c.name: c for c in report_out(report).checks}
    assert shape["backup"].down_seconds == down and shape["paused"].paused_seconds == 33 * HOUR

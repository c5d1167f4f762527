"""Heartbeat checks' uptime in the weekly report, on a real store of each backend: checks made
and pinged through the use cases at known times (a fake clock), the report's HTML parsed and
its uptime figures checked against those pings; the JSON shape and the text part agree."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tests.service.report_data import ReportPage
from tickwork.clock import FakeClock
from tickwork.domain.checks import CheckStatus
from tickwork.domain.report import CheckUptime
from tickwork.domain.uptime import HourFigures, uptime
from tickwork.runtime.notify.report_mail import render_html, render_text
from tickwork.service.checks import PingRequest
from tickwork.service.context import Context
from tickwork.service.facade import Service
from tickwork.store import SqlStore
from tickwork.store.schema_alerting import check_hours
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


async def test_settled_hours_are_kept_and_read_back(store: SqlStore, service: Service) -> None:
    """The first report replays the range and keeps its settled hours; the next one reads them
    and replays only the hour it ends in, with the same figures; a ping since counts."""
    ctx_clock = service.ctx.clock
    assert isinstance(ctx_clock, FakeClock)
    first = await service.checks.uptimes(START, NOW)
    kept = await store.check_hours(START, NOW)
    # Every check, every whole hour from START that ended a minute (the margin) before NOW:
    # NOW is 09:00, so the hour from 08:00 is not settled yet.
    hours = int((NOW - START).total_seconds() // HOUR) - 1
    assert len(kept) == 3
    assert all(k.runs == ((START, START + timedelta(hours=hours)),) for k in kept)
    again = await service.checks.uptimes(START, NOW)
    assert again == first

    # Against a replay of the whole range, 30 minutes later and after a success at 09:20.
    later = NOW + timedelta(minutes=30)
    ctx_clock.set(NOW + timedelta(minutes=20))
    await service.checks.ping(PingRequest(), name="backup")
    ctx_clock.set(later)
    lines = await service.checks.uptimes(START + timedelta(minutes=30), later)
    full = {c.name: c for c in lines}
    for check, history in await store.check_histories(START + timedelta(minutes=30), later):
        assert full[check.name] == uptime(check, history, START + timedelta(minutes=30), later)
    assert full["backup"].status == "up"

    # The kept rows are what the report reads: a row changed shows in the next one.
    engine = store.engine
    with engine.begin() as conn:
        conn.execute(
            check_hours.update()
            .where(check_hours.c.hour == START + timedelta(hours=1))
            .values(down_seconds=check_hours.c.down_seconds + 7.0)
        )
    changed = {c.name: c for c in await service.checks.uptimes(START, NOW)}
    assert changed["backup"].down_seconds == lines_of(first)["backup"].down_seconds + 7.0


def lines_of(lines: list[CheckUptime]) -> dict[str, CheckUptime]:
    return {line.name: line for line in lines}


async def test_a_deleted_check_takes_its_hours(store: SqlStore, service: Service) -> None:
    await service.checks.uptimes(START, NOW)
    await service.checks.delete("fresh")
    kept = await store.check_hours(START, NOW)
    remaining = {c.uuid for c in await store.list_checks()}
    assert kept and {f.check_uuid for f in kept} == remaining and len(remaining) == 2


async def test_kept_hours_with_a_gap_come_as_runs(store: SqlStore) -> None:
    hours = [START + timedelta(hours=h) for h in (0, 1, 2, 5, 6)]
    await store.keep_check_hours(
        [HourFigures("x", h, {CheckStatus.UP: 3000.0, None: 600.0}) for h in hours]
    )
    # Kept twice (a concurrent report): the first stays.
    await store.keep_check_hours([HourFigures("x", hours[0], {CheckStatus.DOWN: 3600.0})])
    (kept,) = await store.check_hours(START, START + timedelta(days=1))
    assert kept.runs == (
        (hours[0], hours[2] + timedelta(hours=1)),
        (hours[3], hours[4] + timedelta(hours=1)),
    )
    assert kept.seconds[CheckStatus.UP] == 5 * 3000.0 and kept.seconds[None] == 5 * 600.0
    assert kept.seconds[CheckStatus.DOWN] == 0.0

"""The report's pure rules: fires expected in a range (cron across a DST change, intervals by
arithmetic, a cap for very frequent schedules), incidents paired from transitions, changes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tickwork.domain.alert_records import AlertKey, TransitionRecord
from tickwork.domain.alert_states import AlertState, Status
from tickwork.domain.report import count_fires, incidents, needs_earlier, relative_change
from tickwork.domain.schedules import parse_schedule

T = datetime(2026, 3, 23, tzinfo=UTC)  # a Monday; Europe/Berlin moves to summer time on the 29th


def test_count_fires() -> None:
    week = (T, T + timedelta(days=7))
    assert count_fires(parse_schedule("0 9 * * *", "Europe/Berlin"), *week) == (7, True)
    # 02:30 does not exist on 29 March in Berlin: Debian cron's rule runs it at 03:00.
    assert count_fires(parse_schedule("30 2 * * *", "Europe/Berlin"), *week) == (7, True)
    assert count_fires(parse_schedule("every 90m"), *week) == (112, True)
    assert count_fires(parse_schedule("every 1h"), T, T + timedelta(minutes=59)) == (1, True)
    assert count_fires(parse_schedule("0 * * * *"), T, T) == (0, True)
    assert count_fires(parse_schedule("* * * * * *"), *week, limit=1000) == (1000, False)


def test_counting_by_days_matches_one_walk() -> None:
    # Ranges starting and ending mid-day, across both of Berlin's changes, and a second count
    # of a shifted range (whole days read from the first one's) agree with one walk.
    for expression in ("*/7 * * * *", "30 2 * * *", "15 1-3 * * 0", "0 0 L * *"):
        schedule = parse_schedule(expression, "Europe/Berlin")
        for start in (
            T + timedelta(hours=5, minutes=3),
            datetime(2026, 10, 22, 23, 59, tzinfo=UTC),
        ):
            for shift in (0, 37):
                a = start + timedelta(minutes=shift)
                b = a + timedelta(days=9, minutes=11)
                fires = 0
                for fire in schedule.iter_after(a - timedelta(microseconds=1)):
                    if fire >= b:
                        break
                    fires += 1
                assert count_fires(schedule, a, b) == (fires, True), expression


def record(
    n: int, subject: str, at: datetime, to: Status, frm: Status | None = None
) -> TransitionRecord:
    source = frm or (Status.OK if to is Status.FIRING else Status.FIRING)
    return TransitionRecord(n, "r", subject, at, source, to, f"why {n}", (), (), (), n)


def test_incidents_pair_firing_and_recovery() -> None:
    start, end = T, T + timedelta(days=7)
    history = [
        record(1, "a", start - timedelta(hours=5), Status.FIRING),
        record(2, "a", start - timedelta(hours=4), Status.FIRING, Status.FIRING),  # an ack
        record(3, "a", start + timedelta(hours=1), Status.OK),
        record(4, "b", start + timedelta(hours=2), Status.OK),  # its firing is older than all
        record(5, "c", start + timedelta(days=1), Status.FIRING),
        record(6, "c", start + timedelta(days=1, minutes=30), Status.OK),
        record(7, "d", start - timedelta(days=3), Status.FIRING),
        record(8, "d", start - timedelta(days=2), Status.OK),  # before the range
    ]
    firing = {AlertKey("r", "e"): AlertState(Status.FIRING, end - timedelta(hours=2), "late")}
    found = incidents(history, firing, start, end)
    assert [(i.subject, i.lasted_seconds, i.started_at is None, i.ongoing) for i in found] == [
        ("a", 6 * 3600.0, False, False),
        ("b", 2 * 3600.0, True, False),
        ("e", 2 * 3600.0, False, True),
        ("c", 1800.0, False, False),
    ]
    assert found[0].why == "why 1"
    newest_first = sorted(history, key=lambda t: -t.id)
    assert needs_earlier(newest_first[:6], start)  # "a" recovered in the range, firing unread
    # "b" never finds its firing (the reader stops at its page limit); without it, all found.
    assert needs_earlier(newest_first, start)
    assert not needs_earlier([t for t in newest_first if t.subject != "b"], start)


def test_relative_change() -> None:
    assert relative_change(15.0, 10.0) == 0.5
    assert relative_change(None, 10.0) is None and relative_change(1.0, 0.0) is None

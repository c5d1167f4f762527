"""Heartbeat checks' pure rules with a fake clock's times: status from the last pings and now
(new, up, late, down, paused; a start that does not finish; a run in progress), cron
expressions in a timezone, pings read from URLs, starts paired with finishes, specs checked,
and [[checks]] in tickwork.toml."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tickwork.config import load_config
from tickwork.config.checks import changed_spec, check_spec
from tickwork.domain.checks import (
    MAX_BODY_BYTES,
    Check,
    CheckSource,
    CheckSpec,
    CheckStatus,
    PingKind,
    check_state,
    due_at,
    new_check,
    ping_of,
    receive,
    running,
)
from tickwork.errors import ConfigError

T0 = datetime(2026, 3, 28, 22, 0, tzinfo=UTC)  # a Saturday; Europe/Berlin goes to DST at 01:00


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def hourly(grace_minutes: float = 10) -> Check:
    spec = CheckSpec("etl", period_seconds=3600, grace_seconds=grace_minutes * 60)
    return new_check(spec, CheckSource.API, T0)


def ping(check: Check, action: str | None, minutes: float, rid: str | None = None) -> Check:
    return receive(check, ping_of(action, at(minutes), rid=rid)).check


def test_a_period_check_goes_up_late_down_and_up_again() -> None:
    check = hourly()
    assert check_state(check, at(500)).status is CheckStatus.NEW
    check = ping(check, None, 0)
    assert due_at(check) == at(60)
    assert check_state(check, at(59)).status is CheckStatus.UP
    late = check_state(check, at(60))
    assert late.status is CheckStatus.LATE and late.down_at == at(70)
    down = check_state(check, at(70))
    assert down.status is CheckStatus.DOWN and "no ping since" in down.why
    assert check_state(ping(check, "0", 71), at(72)).status is CheckStatus.UP


def test_failures_starts_and_runs_in_progress() -> None:
    check = ping(hourly(), None, 0)
    failed = ping(check, "fail", 5)
    assert check_state(failed, at(6)).status is CheckStatus.DOWN
    coded = ping(check, "2", 5)
    assert "exit status 2" in check_state(coded, at(6)).why
    assert (
        check_state(ping(coded, "log", 7), at(8)).status is CheckStatus.DOWN
    )  # a log tells nothing
    # Due at 60, but a run started at 58: alive until 68 (its grace), then down.
    started = ping(check, "start", 58)
    assert running(started, at(65))
    assert check_state(started, at(65)).status is CheckStatus.UP
    stuck = check_state(started, at(68))
    assert stuck.status is CheckStatus.DOWN and "did not finish within 10m" in stuck.why
    # A new check that starts and never finishes goes down too.
    new_started = ping(hourly(), "start", 0)
    assert check_state(new_started, at(9)).status is CheckStatus.NEW
    assert check_state(new_started, at(10)).status is CheckStatus.DOWN


def test_durations_pair_starts_with_finishes() -> None:
    check = ping(hourly(), "start", 0)
    result = receive(check, ping_of(None, at(3)))
    assert result.duration_seconds == 180 and result.check.last_duration_seconds == 180
    assert result.check.started_at is None
    # Overlapping runs by rid: a finish of an older run leaves the newest start open.
    two = ping(ping(hourly(), "start", 0, rid="a"), "start", 1, rid="b")
    older = receive(two, ping_of(None, at(4), rid="a"), rid_started_at=at(0))
    assert older.duration_seconds == 240 and older.check.start_rid == "b"
    newer = receive(older.check, ping_of("fail", at(5), rid="b"))
    assert newer.duration_seconds == 240 and newer.check.started_at is None
    # A finish without a start has no duration.
    assert receive(hourly(), ping_of(None, at(1))).duration_seconds is None


def test_paused_until_the_next_ping() -> None:
    check = dataclasses.replace(ping(hourly(), None, 0), paused_at=at(1))
    assert check_state(check, at(500)).status is CheckStatus.PAUSED
    assert check_state(ping(check, None, 501), at(502)).status is CheckStatus.UP


def test_cron_checks_expect_the_next_time_in_their_zone() -> None:
    spec = CheckSpec("nightly", cron="30 2 * * *", timezone="Europe/Berlin", grace_seconds=600)
    check = receive(new_check(spec, CheckSource.CONFIG, T0), ping_of(None, T0)).check
    # 02:30 does not exist in Berlin on 2026-03-29 (clocks jump 02:00 -> 03:00).
    expected = due_at(check)
    assert expected is not None and expected > T0
    assert check_state(check, expected - timedelta(seconds=1)).status is CheckStatus.UP
    assert check_state(check, expected + timedelta(minutes=11)).status is CheckStatus.DOWN
    assert spec.expected == "cron 30 2 * * * (Europe/Berlin)"


def test_pings_read_from_urls() -> None:
    assert ping_of(None, T0).kind is PingKind.SUCCESS
    assert ping_of("start", T0).kind is PingKind.START
    assert ping_of("log", T0).kind is PingKind.LOG
    assert (ping_of("0", T0).kind, ping_of("0", T0).exit_status) == (PingKind.SUCCESS, 0)
    assert (ping_of("255", T0).kind, ping_of("255", T0).exit_status) == (PingKind.FAIL, 255)
    for bad in ("256", "-1", "stop", "1e3"):
        with pytest.raises(ConfigError, match="action"):
            ping_of(bad, T0)
    with pytest.raises(ConfigError, match="rid"):
        ping_of(None, T0, rid="has space")
    big = ping_of(None, T0, body=b"\xff" + b"y" * (2 * MAX_BODY_BYTES))
    assert big.body_bytes == 2 * MAX_BODY_BYTES + 1 and len(big.body.encode()) <= MAX_BODY_BYTES + 2
    assert ping_of(None, T0, body=b"a\x00b").body == "ab"  # PostgreSQL stores no NUL


def test_specs_are_checked_and_named() -> None:
    assert CheckSpec("x").period_seconds == 86_400
    cases = [
        ({"name": "Has Space"}, "name"),
        ({"name": "x", "period": "0s"}, "period"),
        ({"name": "x", "period": "1h", "cron": "* * * * *"}, "cron"),
        ({"name": "x", "cron": "every 5m"}, "cron"),
        ({"name": "x", "cron": "61 * * * *"}, "cron"),
        ({"name": "x", "cron": "0 3 * * *", "timezone": "Nowhere/Town"}, "timezone"),
        ({"name": "x", "grace": "400d"}, "grace"),
        ({"name": "x", "colour": "red"}, "colour"),
        ({"period": "1h"}, "name"),
    ]
    for data, field in cases:
        with pytest.raises(ConfigError) as caught:
            check_spec(data, prefix="checks[0].")
        assert caught.value.field == f"checks[0].{field}", (data, caught.value)
    spec = check_spec({"name": "x", "period": "1h"})
    assert changed_spec(spec, {"cron": "0 3 * * *"}).period_seconds is None
    assert changed_spec(spec, {"grace": None}).grace_seconds == 3600
    with pytest.raises(ConfigError, match="nope"):
        changed_spec(spec, {"nope": 1})


def test_checks_in_tickwork_toml(tmp_path: Path) -> None:
    path = tmp_path / "tickwork.toml"
    path.write_text(
        '[[checks]]\nname = "db-backup"\ncron = "0 3 * * *"\ntimezone = "Europe/Berlin"\n'
        'grace = "${GRACE}"\ntags = ["backups"]\n\n[[checks]]\nname = "ping"\nperiod = 300\n'
    )
    config = load_config(path, environ={"GRACE": "45m"})
    assert [c.name for c in config.checks] == ["db-backup", "ping"]
    assert config.checks[0].grace_seconds == 2700 and config.checks[1].period_seconds == 300
    path.write_text('[[checks]]\nname = "a"\n\n[[checks]]\nname = "a"\n')
    with pytest.raises(ConfigError, match=r"checks\[1\].name: duplicate"):
        load_config(path, environ={})

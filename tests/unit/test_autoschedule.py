"""The auto-rescheduling rules (``domain/autoschedule.py``) on runs with known outcomes, at
times of a fake clock: keep, stretch, timeouts, spread, the breaker with its half-open probe,
interrupted runs left out, per-job switches, and the effective schedule's fires."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

import pytest

from tickwork.clock import FakeClock
from tickwork.domain.autoschedule import (
    AUTO_DISABLE,
    AUTO_PROBE,
    AUTO_RESCHEDULE,
    AUTO_RESTORE,
    AutoSettings,
    Breaker,
    Override,
    Rule,
    Subject,
    adjusted,
    decide,
    job_rules,
    pile_ups,
)
from tickwork.domain.schedules import parse_schedule
from tickwork.domain.spread import spread_offset
from tickwork.errors import ConfigError

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
SETTINGS = AutoSettings(enabled=True)


@dataclass(frozen=True)
class R:
    status: str
    finished_at: datetime


def runs(clock: FakeClock, *statuses: str) -> list[R]:
    """Runs finished a minute apart before the clock's now, oldest first given, newest first
    returned (as the store hands them)."""
    now = clock.now()
    n = len(statuses)
    return [R(s, now - timedelta(minutes=n - i)) for i, s in enumerate(statuses)][::-1]


def mixed(clock: FakeClock, failed: int, total: int = 100, kind: str = "failed") -> list[R]:
    # Failures spread out, never three in a row at the newest end: the breaker stays closed.
    statuses = ["succeeded"] * total
    for i in range(failed):
        statuses[(i * total) // failed] = kind
    statuses[-1] = "succeeded"
    return runs(clock, *statuses)


def test_keep_when_95_percent_succeed() -> None:
    clock = FakeClock(T0)
    subject = Subject("etl", runs=mixed(clock, 5))
    assert decide(subject, SETTINGS, clock.now()) is None


def test_stretch_x2_when_more_than_half_fail_with_evidence() -> None:
    clock = FakeClock(T0)
    change = decide(Subject("etl", runs=mixed(clock, 62)), SETTINGS, clock.now())
    assert change is not None
    assert (change.action, change.rule) == (AUTO_RESCHEDULE, Rule.STRETCH)
    assert change.evidence == "62 of the last 100 runs failed"
    assert change.before == Override() and change.after.stride == 2
    assert change.after.changed_at == T0
    # Exactly half is not more than half: with keep off, nothing stretches.
    half = Subject("etl", runs=mixed(clock, 50), rules=frozenset({Rule.STRETCH}))
    assert decide(half, SETTINGS, clock.now()) is None


def test_stretch_needs_fresh_evidence_after_a_change_and_stops_at_max_stride() -> None:
    clock = FakeClock(T0)
    history = mixed(clock, 80)
    first = decide(Subject("etl", runs=history), SETTINGS, clock.now())
    assert first is not None
    # Just after: the same runs finished before the change, so they are no evidence.
    clock.advance(60)
    assert decide(Subject("etl", first.after, runs=history), SETTINGS, clock.now()) is None
    # Fresh failing runs after the change: ×2 again.
    clock.advance(3600)
    fresh = mixed(clock, 8, total=10) + history
    second = decide(Subject("etl", first.after, runs=fresh), SETTINGS, clock.now())
    assert second is not None and second.after.stride == 4
    capped = replace(second.after, stride=8)
    clock.advance(3600)
    fresh = mixed(clock, 8, total=10)
    assert decide(Subject("etl", capped, runs=fresh), SETTINGS, clock.now()) is None


def test_lower_frequency_when_timeouts_are_frequent() -> None:
    clock = FakeClock(T0)
    change = decide(Subject("etl", runs=mixed(clock, 25, kind="timeout")), SETTINGS, clock.now())
    assert change is not None
    assert change.rule is Rule.TIMEOUTS and change.after.stride == 2
    assert change.evidence == "25 of the last 100 runs timed out"
    off = Subject("etl", runs=mixed(clock, 25, kind="timeout"), rules=frozenset({Rule.KEEP}))
    assert decide(off, SETTINGS, clock.now()) is None


def test_too_few_runs_change_nothing() -> None:
    clock = FakeClock(T0)
    few = runs(clock, "failed", "succeeded", "failed", "failed", "succeeded")
    assert decide(Subject("etl", runs=few), SETTINGS, clock.now()) is None


def test_interrupted_runs_never_count_as_failures() -> None:
    clock = FakeClock(T0)
    # 60 interrupted (restarts of tickwork) and 40 succeeded: nothing to change.
    statuses = ["interrupted"] * 60 + ["succeeded"] * 40
    assert decide(Subject("etl", runs=runs(clock, *statuses)), SETTINGS, clock.now()) is None
    # Three interrupted in a row between failures do not make three consecutive failures.
    mixed_in = runs(clock, "succeeded", "failed", "interrupted", "failed", "interrupted")
    assert decide(Subject("etl", runs=mixed_in), SETTINGS, clock.now()) is None


def test_spread_a_pile_up_by_the_jobs_fixed_offset() -> None:
    clock = FakeClock(T0)
    subject = Subject("etl", interval_seconds=3600, piled_up=12, pile_at=T0)
    change = decide(subject, SETTINGS, clock.now())
    assert change is not None and change.rule is Rule.SPREAD
    assert change.after.offset_seconds == spread_offset("etl", 3600) > 0
    assert change.evidence == "12 schedules fire on the same second at 09:00:00 UTC"
    # Once spread, never again; below the pile-up size, never.
    assert decide(replace(subject, override=change.after), SETTINGS, clock.now()) is None
    assert decide(replace(subject, piled_up=9), SETTINGS, clock.now()) is None
    # Counting schedules on one second.
    piles = pile_ups({"a": T0, "b": T0 + timedelta(microseconds=5), "c": T0 + timedelta(1)})
    assert piles["a"] == (2, T0) and piles["c"][0] == 1


def test_breaker_opens_after_three_consecutive_failures() -> None:
    clock = FakeClock(T0)
    history = runs(clock, "succeeded", "failed", "timeout", "failed")
    change = decide(Subject("etl", runs=history), SETTINGS, clock.now())
    assert change is not None
    assert (change.action, change.rule, change.evidence) == (
        AUTO_DISABLE,
        Rule.BREAKER,
        "3 consecutive failures",
    )
    assert change.after.breaker is Breaker.OPEN and change.after.held
    # Two in a row are not enough; with the breaker off for the job, nothing.
    assert decide(Subject("etl", runs=history[:2]), SETTINGS, clock.now()) is None
    off = job_rules(SETTINGS, {"breaker": False})
    assert decide(Subject("etl", runs=history, rules=off), SETTINGS, clock.now()) is None


def opened(clock: FakeClock) -> Override:
    return Override(breaker=Breaker.OPEN, breaker_at=clock.now(), changed_at=clock.now())


def test_half_open_probe_success_restores_the_schedule() -> None:
    clock = FakeClock(T0)
    o = opened(clock)
    clock.advance(1800)  # within the cool-down: nothing
    assert decide(Subject("etl", o), SETTINGS, clock.now()) is None
    clock.advance(1800)
    probe = decide(Subject("etl", o), SETTINGS, clock.now())
    assert probe is not None and probe.probe and probe.action == AUTO_PROBE
    assert probe.after.breaker is Breaker.HALF_OPEN
    half = replace(probe.after, probe_job_id=7)
    # The trial run still pending or running: wait.
    for state in ("available", "running", "retrying"):
        assert decide(Subject("etl", half, probe_state=state), SETTINGS, clock.now()) is None
    clock.advance(60)
    restore = decide(Subject("etl", half, probe_state="succeeded"), SETTINGS, clock.now())
    assert restore is not None and restore.action == AUTO_RESTORE
    assert restore.evidence == "the trial run succeeded"
    assert restore.after == Override(changed_at=clock.now())
    assert not restore.after.active


def test_half_open_probe_failure_reopens() -> None:
    clock = FakeClock(T0)
    half = Override(breaker=Breaker.HALF_OPEN, breaker_at=T0, probe_job_id=7, changed_at=T0)
    clock.advance(60)
    reopen = decide(Subject("etl", half, probe_state="failed"), SETTINGS, clock.now())
    assert reopen is not None and reopen.action == AUTO_DISABLE
    assert reopen.evidence == "the trial run ended failed"
    assert reopen.after.breaker is Breaker.OPEN and reopen.after.breaker_at == clock.now()
    # A new cool-down from the re-opening.
    clock.advance(3599)
    assert decide(Subject("etl", reopen.after), SETTINGS, clock.now()) is None
    clock.advance(1)
    assert decide(Subject("etl", reopen.after), SETTINGS, clock.now()) is not None


def test_an_open_breaker_holds_other_rules_and_switching_it_off_restores() -> None:
    clock = FakeClock(T0)
    o = opened(clock)
    clock.advance(60)
    many = Subject("etl", o, runs=mixed(clock, 80), piled_up=50, interval_seconds=3600)
    assert decide(many, SETTINGS, clock.now()) is None
    off = replace(many, rules=job_rules(SETTINGS, {"breaker": False}))
    change = decide(off, SETTINGS, clock.now())
    assert change is not None and change.action == AUTO_RESTORE


def test_job_switches_over_global_rules() -> None:
    settings = AutoSettings(rules=frozenset({Rule.KEEP, Rule.BREAKER}))
    assert job_rules(settings, {}) == {Rule.KEEP, Rule.BREAKER}
    assert job_rules(settings, {"spread": True, "keep": False}) == {Rule.SPREAD, Rule.BREAKER}
    assert job_rules(settings, dict.fromkeys(Rule, False)) == set()
    with pytest.raises(ValueError):
        job_rules(settings, {"nope": True})


def test_settings_are_checked() -> None:
    with pytest.raises(ConfigError, match="window"):
        AutoSettings(window=0)
    with pytest.raises(ConfigError, match="keep_share"):
        AutoSettings(keep_share=1.5)


def test_effective_schedule_every_nth_fire_with_offset() -> None:
    schedule = parse_schedule("*/5 * * * *", "UTC")
    same = adjusted(schedule.next_after, 1, 0)
    assert same == schedule.next_after
    every_other = adjusted(schedule.next_after, 2, 42)
    first = every_other(T0)
    # Two fires of the defined schedule after now (moved back by the offset), then moved on.
    assert first == T0 + timedelta(minutes=5, seconds=42)
    assert every_other(first) == first + timedelta(minutes=10)
    berlin = parse_schedule("0 9 * * *", "Europe/Berlin")
    later = adjusted(berlin.next_after, 1, 90)
    assert later(T0) == berlin.next_after(T0) + timedelta(seconds=90)


def test_override_in_words() -> None:
    assert Override().describe() == ""
    assert Override(stride=2, offset_seconds=42).describe() == "every 2nd fire, 42s later"
    assert Override(breaker=Breaker.OPEN).describe() == "auto-disabled (circuit breaker open)"


def test_alert_kinds_read_the_override() -> None:
    from tickwork.domain.alerts import CONDITIONS, AutoDisabled, AutoRescheduled, SubjectFacts

    assert CONDITIONS["auto_disabled"] is AutoDisabled
    assert CONDITIONS["auto_rescheduled"] is AutoRescheduled
    now = T0 + timedelta(hours=1)
    none = SubjectFacts("task:etl", task="etl")
    held = SubjectFacts("task:etl", task="etl", auto=Override(breaker=Breaker.OPEN, breaker_at=T0))
    moved = SubjectFacts("task:etl", task="etl", auto=Override(stride=4, changed_at=T0))
    assert not AutoDisabled().check(none, now).breached
    assert AutoDisabled().check(held, now).why == (
        "auto-disabled (circuit breaker open) since 2026-03-02 09:00 UTC"
    )
    assert not AutoDisabled().check(moved, now).breached
    assert AutoRescheduled().check(moved, now).why == (
        "auto-rescheduled: every 4th fire since 2026-03-02 09:00 UTC"
    )
    assert not AutoRescheduled().check(held, now).breached

"""Alert rule kinds: their parameters' checks, scopes, and their verdicts on a subject's facts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tickwork.domain.alerts import (
    AlertRule,
    BacklogAge,
    BatchFailures,
    ChannelFailing,
    ConsecutiveFailures,
    FailureRate,
    FailureWindow,
    LongRun,
    MissedFire,
    ProcessorDown,
    RunFact,
    Scope,
    ScopeIndex,
    ScopeKind,
    SubjectFacts,
    Timeout,
)
from tickwork.errors import ConfigError

NOW = datetime(2026, 5, 4, 9, 0, tzinfo=UTC)


def runs(*statuses: str, every: float = 60, seconds: float = 1.0) -> tuple[RunFact, ...]:
    """Runs newest first, one every ``every`` seconds before NOW."""
    return tuple(
        RunFact(status, NOW - timedelta(seconds=every * (i + 1)), seconds, f"r{i}", "boom")
        for i, status in enumerate(statuses)
    )


def facts(**values: object) -> SubjectFacts:
    return SubjectFacts(subject="task:etl", task="etl", **values)  # type: ignore[arg-type]


def test_consecutive_failures_counts_the_newest_runs() -> None:
    rule = ConsecutiveFailures(count=3)
    seen = rule.check(facts(runs=runs("failed", "timeout", "failed", "succeeded")), NOW)
    assert seen.breached and seen.why == "3 consecutive failures"
    assert seen.details == {"task": "etl", "status": "failed", "run_id": "r0", "error": "boom"}
    assert not rule.check(facts(runs=runs("failed", "succeeded", "failed")), NOW).breached
    assert not rule.check(facts(runs=runs("failed", "failed")), NOW).breached


def test_x_of_the_last_m_runs() -> None:
    rule = FailureWindow(failures=2, runs=4)
    assert rule.check(facts(runs=runs("ok", "failed", "ok", "failed", "failed")), NOW).breached
    assert not rule.check(facts(runs=runs("ok", "failed", "ok", "ok", "failed")), NOW).breached
    with pytest.raises(ConfigError, match="must be <= runs"):
        FailureWindow(failures=5, runs=4)


def test_failure_rate_over_a_window() -> None:
    rule = FailureRate(rate=0.5, window_seconds=300, min_runs=3)
    # Every 120 s: the runs at 120 s and 240 s are inside 5 minutes, the rest outside.
    assert not rule.check(facts(runs=runs("failed", "failed", every=120)), NOW).breached
    rule2 = FailureRate(rate=0.5, window_seconds=300, min_runs=2)
    seen = rule2.check(facts(runs=runs("failed", "failed", "ok", every=120)), NOW)
    assert seen.breached and "2 of 2 runs failed in 5m" in seen.why
    assert not rule2.check(facts(runs=runs("failed", "ok", every=120)), NOW).breached
    with pytest.raises(ConfigError, match="rate"):
        FailureRate(rate=1.5)


def test_batch_whose_failures_outnumber_its_successes() -> None:
    rule = BatchFailures(min_finished=4)
    assert not rule.check(facts(batch_failed=3, batch_succeeded=0), NOW).breached
    assert rule.check(facts(batch_failed=3, batch_succeeded=2), NOW).breached
    assert not rule.check(facts(batch_failed=3, batch_succeeded=3), NOW).breached


def test_long_run_by_duration_by_p95_and_while_running() -> None:
    rule = LongRun(max_seconds=480)
    assert rule.check(facts(runs=runs("succeeded", seconds=481)), NOW).breached
    assert not rule.check(facts(runs=runs("succeeded", seconds=480)), NOW).breached
    started = NOW - timedelta(minutes=9)
    seen = rule.check(facts(running_since=started), NOW)
    assert seen.breached and seen.why == "running for 9m (limit 8m)"
    by_p95 = LongRun(p95_factor=2)
    assert not by_p95.check(facts(runs=runs("succeeded", seconds=100)), NOW).breached
    assert by_p95.check(facts(runs=runs("succeeded", seconds=100), p95_seconds=40), NOW).breached
    with pytest.raises(ConfigError, match="needs max or p95_factor"):
        LongRun()


def test_timeout_missed_fire_processor_backlog_channel() -> None:
    assert Timeout().check(facts(runs=runs("timeout")), NOW).breached
    assert not Timeout().check(facts(runs=runs("failed")), NOW).breached
    missed = MissedFire(grace_seconds=300)
    assert not missed.check(facts(late_fire_at=NOW - timedelta(seconds=300)), NOW).breached
    assert missed.check(facts(late_fire_at=NOW - timedelta(seconds=301)), NOW).breached
    assert missed.check(facts(missed_fires=1), NOW).breached
    down = ProcessorDown(after_seconds=60)
    assert down.check(
        SubjectFacts("processor:p1", heartbeat_at=NOW - timedelta(seconds=61)), NOW
    ).breached
    assert not down.check(SubjectFacts("processor:p1", heartbeat_at=None), NOW).breached
    backlog = BacklogAge(max_age_seconds=600)
    assert backlog.check(
        SubjectFacts("queue", oldest_due_at=NOW - timedelta(hours=1)), NOW
    ).breached
    assert not backlog.check(SubjectFacts("queue"), NOW).breached
    channel = ChannelFailing(failures=3)
    assert channel.check(SubjectFacts("channel:ops", delivery_failures=3), NOW).breached
    assert not channel.check(SubjectFacts("channel:ops", delivery_failures=2), NOW).breached


def test_scopes() -> None:
    assert Scope().matches("etl")
    assert Scope(ScopeKind.TASK, "etl").matches("etl")
    assert not Scope(ScopeKind.TASK, "etl").matches("other")
    assert Scope(ScopeKind.TAG, "nightly").matches("x", ("nightly", "db"))
    assert not Scope(ScopeKind.TAG, "nightly").matches("x", ("db",))
    assert str(Scope(ScopeKind.TAG, "nightly")) == "tag:nightly"
    with pytest.raises(ConfigError):
        Scope(ScopeKind.TASK)


def test_rules_check_names_scopes_and_policies() -> None:
    rule = AlertRule("etl", ConsecutiveFailures(), realert_seconds=3600)
    assert rule.policy.rule == "etl" and rule.policy.realert_seconds == 3600
    with pytest.raises(ConfigError, match="name"):
        AlertRule("has space", Timeout())
    with pytest.raises(ConfigError, match="watches the cluster"):
        AlertRule("down", ProcessorDown(), scope=Scope(ScopeKind.TASK, "etl"))
    with pytest.raises(ConfigError, match="flap_flips"):
        AlertRule("etl", Timeout(), flap_flips=0)
    with pytest.raises(ConfigError, match="count"):
        ConsecutiveFailures(count=0)


def test_naive_now_is_refused() -> None:
    with pytest.raises(ValueError):
        Timeout().check(facts(), datetime(2026, 1, 1))


def test_a_scope_index_watches_what_each_scope_matches() -> None:
    items = [("a", ("x", "y")), ("b", ("y",)), ("c", ()), ("d", ("x", "x"))]
    index = ScopeIndex(items)
    scopes = [
        Scope(),
        Scope(ScopeKind.TASK, "b"),
        Scope(ScopeKind.TASK, "gone"),
        Scope(ScopeKind.CHECK, "c"),
        Scope(ScopeKind.TAG, "x"),
        Scope(ScopeKind.TAG, "y"),
        Scope(ScopeKind.TAG, "none"),
    ]
    for scope in scopes:
        expected = [name for name, tags in items if scope.matches(name, tags)]
        assert list(index.watched(scope)) == expected, scope

"""Admission of due jobs under policies: pure decisions over a snapshot."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tickwork.domain.admission import Candidate, ClaimRules, admit
from tickwork.domain.limits import OverlapPolicy, Policies, RateLimit

NOW = datetime(2026, 4, 1, 10, 0, tzinfo=UTC)
PLAIN = Policies()


def c(i: int, task: str = "t", key: str | None = None, p: Policies = PLAIN) -> Candidate:
    return Candidate(i, task, key, p)


def test_no_policies_admits_in_order_up_to_limit() -> None:
    result = admit([c(1), c(2), c(3)], {}, {}, ClaimRules(), NOW, 2)
    assert result.ids == [1, 2] and result.holds == {}


def test_key_limit_counts_running_and_admitted() -> None:
    cands = [c(1, key="u1"), c(2, key="u1"), c(3, key="u2"), c(4, key="u1"), c(5)]
    result = admit(cands, {("other", "u1"): 1}, {}, ClaimRules(key_limit=2), NOW, 10)
    assert result.ids == [1, 3, 5]  # u1: one running elsewhere + job 1 = 2
    assert result.holds[2].policy == "key_limit" and "u1" in str(result.holds[2])


def test_task_key_limit_overrides_the_default() -> None:
    p = Policies(key_limit=1)
    result = admit(
        [c(1, key="k", p=p), c(2, key="k", p=p)], {}, {}, ClaimRules(key_limit=5), NOW, 10
    )
    assert result.ids == [1]


def test_overlap_queue_runs_one_at_a_time() -> None:
    q = Policies(overlap=OverlapPolicy.QUEUE)
    assert admit([c(1, p=q), c(2, p=q)], {}, {}, ClaimRules(), NOW, 10).ids == [1]
    held = admit([c(3, p=q)], {("t", None): 1}, {}, ClaimRules(), NOW, 10)
    assert held.ids == [] and held.holds[3].policy == "overlap=queue"


def test_global_rate_limit_allows_a_burst_then_spaces_starts() -> None:
    rules = ClaimRules(rate_limit=RateLimit(2, 1.0))
    first = admit([c(i) for i in range(5)], {}, {}, rules, NOW, 10)
    assert first.ids == [0, 1]  # a burst of 2
    hold = first.holds[2]
    assert hold.policy == "rate_limit" and hold.until == NOW + timedelta(seconds=0.5)
    # Half a second later one more start is allowed.
    later = admit(
        [c(i) for i in range(2, 5)], {}, first.tats, rules, NOW + timedelta(seconds=0.5), 10
    )
    assert later.ids == [2]


def test_task_and_key_rate_limits_and_cooldown() -> None:
    p = Policies(
        rate_limit=RateLimit(10, 1.0), key_rate_limit=RateLimit(1, 60.0), cooldown_seconds=5
    )
    result = admit(
        [c(1, key="a", p=p), c(2, key="a", p=p), c(3, key="b", p=p)], {}, {}, ClaimRules(), NOW, 10
    )
    assert result.ids == [1, 3]
    assert result.holds[2].policy == "key_rate_limit"
    cool = Policies(cooldown_seconds=5)
    first = admit([c(1, p=cool)], {}, {}, ClaimRules(), NOW, 10)
    again = admit([c(2, p=cool)], {}, first.tats, ClaimRules(), NOW + timedelta(seconds=4), 10)
    assert again.ids == [] and again.holds[2].policy == "cooldown"
    assert again.holds[2].until == NOW + timedelta(seconds=5)
    after = admit([c(2, p=cool)], {}, first.tats, ClaimRules(), NOW + timedelta(seconds=5), 10)
    assert after.ids == [2]

"""Which due jobs may start now: per-key and per-task concurrency, rate limits and cooldowns.

Pure: the store gathers a snapshot (running counts, limiter states) inside its claim transaction
and applies the decision in the same transaction, so the limits hold across all workers.
Rate limits use GCRA: a limiter's state is one time (its "theoretical arrival time", TAT); a start
is allowed while TAT - now <= period - period/limit (a burst of `limit`), and moves TAT on by
period/limit. A cooldown is the same with no burst.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from tickwork.domain.limits import OverlapPolicy, Policies, RateLimit


@dataclass(frozen=True)
class ClaimRules:
    """Process-wide limits (settings): per-key concurrency default and a global start rate."""

    key_limit: int | None = None
    rate_limit: RateLimit | None = None

    @property
    def empty(self) -> bool:
        return self.key_limit is None and self.rate_limit is None


@dataclass(frozen=True)
class Candidate:
    id: int
    task_name: str
    key: str | None
    policies: Policies


@dataclass(frozen=True)
class Hold:
    """Why a due job was not started: the policy, its limit, and until when (if known)."""

    policy: str
    detail: str
    until: datetime | None = None

    def __str__(self) -> str:
        when = f" until {self.until.isoformat()}" if self.until else ""
        return f"held by {self.policy} ({self.detail}){when}"


@dataclass
class Admission:
    ids: list[int] = field(default_factory=list)
    tats: dict[str, datetime] = field(default_factory=dict)  # limiter states to write
    holds: dict[int, Hold] = field(default_factory=dict)


def needs_admission(candidates: Iterable[Candidate], rules: ClaimRules) -> bool:
    """False when nothing can hold a job back: the claim may take the first `limit` as they are."""
    if not rules.empty:
        return True
    return any(restricts_claims(c.policies) for c in candidates)


def restricts_claims(p: Policies) -> bool:
    """Whether these policies can hold a due job back at claim time."""
    return (
        p.key_limit is not None
        or p.overlap is OverlapPolicy.QUEUE
        or p.rate_limit is not None
        or p.key_rate_limit is not None
        or p.cooldown_seconds > 0
    )


def limiter_names(candidates: Iterable[Candidate], rules: ClaimRules) -> set[str]:
    """The limiter rows the admission of these candidates reads."""
    names: set[str] = {GLOBAL} if rules.rate_limit else set()
    for c in candidates:
        p = c.policies
        if p.rate_limit:
            names.add(task_limiter(c.task_name))
        if p.key_rate_limit and c.key is not None:
            names.add(key_limiter(c.task_name, c.key))
        if p.cooldown_seconds > 0:
            names.add(cooldown_limiter(c.task_name, c.key))
    return names


GLOBAL = "rate:*"


def task_limiter(task: str) -> str:
    return f"rate:{task}"


def key_limiter(task: str, key: str) -> str:
    return f"rate:{task}:{key}"


def cooldown_limiter(task: str, key: str | None) -> str:
    return f"cooldown:{task}:{key}" if key is not None else f"cooldown:{task}"


def _gcra(
    tat: datetime | None, now: datetime, period: float, interval: float
) -> tuple[bool, datetime]:
    """(allowed, the TAT after the start if allowed, else the earliest time it would be)."""
    base = max(tat or now, now)
    tolerance = timedelta(seconds=period - interval)
    if base - now <= tolerance:
        return True, base + timedelta(seconds=interval)
    return False, base - tolerance


class Admitter:
    """Admits candidates in order against a snapshot, counting its own admissions as it goes.

    ``running`` counts running jobs by (task, key); ``tats`` holds the limiter states read from
    the store (more can be added with ``add_tats`` as further pages of candidates are read).
    """

    def __init__(
        self,
        running: Mapping[tuple[str, str | None], int],
        tats: Mapping[str, datetime],
        rules: ClaimRules,
        now: datetime,
    ) -> None:
        self.rules = rules
        self.now = now
        self.by_key: dict[str, int] = {}
        self.by_task: dict[str, int] = {}
        for (task, key), n in running.items():
            self.by_task[task] = self.by_task.get(task, 0) + n
            if key is not None:
                self.by_key[key] = self.by_key.get(key, 0) + n
        self.state: dict[str, datetime] = dict(tats)
        self.result = Admission()

    def add_tats(self, tats: Mapping[str, datetime]) -> None:
        for name, tat in tats.items():
            self.state.setdefault(name, tat)

    def check(self, c: Candidate) -> Hold | None:
        """Why ``c`` may not start now, or None (without admitting it)."""
        hold, _ = _check(c, self.by_key, self.by_task, self.state, self.rules, self.now)
        return hold

    def admit(self, candidates: Iterable[Candidate], limit: int) -> None:
        out = self.result
        for c in candidates:
            if len(out.ids) >= limit:
                return
            hold, updates = _check(c, self.by_key, self.by_task, self.state, self.rules, self.now)
            if hold is not None:
                out.holds[c.id] = hold
                continue
            out.ids.append(c.id)
            self.state.update(updates)
            out.tats.update(updates)
            self.by_task[c.task_name] = self.by_task.get(c.task_name, 0) + 1
            if c.key is not None:
                self.by_key[c.key] = self.by_key.get(c.key, 0) + 1


def admit(
    candidates: Sequence[Candidate],
    running: Mapping[tuple[str, str | None], int],
    tats: Mapping[str, datetime],
    rules: ClaimRules,
    now: datetime,
    limit: int,
) -> Admission:
    """Pick, in the given order, up to ``limit`` candidates that no policy holds back."""
    admitter = Admitter(running, tats, rules, now)
    admitter.admit(candidates, limit)
    return admitter.result


def _check(
    c: Candidate,
    by_key: Mapping[str, int],
    by_task: Mapping[str, int],
    state: Mapping[str, datetime],
    rules: ClaimRules,
    now: datetime,
) -> tuple[Hold | None, dict[str, datetime]]:
    p = c.policies
    if p.overlap is OverlapPolicy.QUEUE and by_task.get(c.task_name, 0) >= 1:
        return Hold("overlap=queue", f"a job of {c.task_name!r} is running"), {}
    key_limit = p.key_limit if p.key_limit is not None else rules.key_limit
    if c.key is not None and key_limit is not None and by_key.get(c.key, 0) >= key_limit:
        return Hold("key_limit", f"{key_limit} running for key {c.key!r}"), {}
    updates: dict[str, datetime] = {}
    checks: list[tuple[str, str, float, float]] = []
    if rules.rate_limit:
        checks.append(
            (
                GLOBAL,
                f"rate_limit {rules.rate_limit} (global)",
                rules.rate_limit.period_seconds,
                rules.rate_limit.interval_seconds,
            )
        )
    if p.rate_limit:
        checks.append(
            (
                task_limiter(c.task_name),
                f"rate_limit {p.rate_limit}",
                p.rate_limit.period_seconds,
                p.rate_limit.interval_seconds,
            )
        )
    if p.key_rate_limit and c.key is not None:
        checks.append(
            (
                key_limiter(c.task_name, c.key),
                f"key_rate_limit {p.key_rate_limit} for key {c.key!r}",
                p.key_rate_limit.period_seconds,
                p.key_rate_limit.interval_seconds,
            )
        )
    if p.cooldown_seconds > 0:
        checks.append(
            (
                cooldown_limiter(c.task_name, c.key),
                f"cooldown {p.cooldown_seconds:g}s" + (f" for key {c.key!r}" if c.key else ""),
                p.cooldown_seconds,
                p.cooldown_seconds,
            )
        )
    for name, detail, period, interval in checks:
        allowed, tat = _gcra(state.get(name), now, period, interval)
        if not allowed:
            policy = detail.split(" ", 1)[0]
            return Hold(policy, detail, until=tat), {}
        updates[name] = tat
    return None, updates

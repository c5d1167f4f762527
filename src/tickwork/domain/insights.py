"""Insights that say what to do: each rule a pure function over figures (``domain.stats``, the
queue, the definitions) that returns ``Finding``s with their evidence and a suggestion. The
use case (``service/analytics.py``) gathers the figures; ``tests/unit/test_insights.py`` holds
each rule to a case that fires and one that does not."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from tickwork.domain.durations import format_duration
from tickwork.domain.queries import ProcessorInfo
from tickwork.domain.stats import ErrorGroup, KeyFigures, TaskFigures

Evidence = dict[str, float | int | str | None]

NEAR_TIMEOUT = 0.8  # a p95 at this share of the timeout or more: the timeout is too tight
TIMEOUT_HEADROOM = 1.5  # a suggested timeout: this many times the p99
MIN_RUNS = 5  # fewer runs than this say too little for the duration rules
OVERLAP_SHARE = 0.05  # runs longer than the interval: from this share of the runs on
DOMINANT_SHARE = 0.5  # one key with this share of its task's keyed runs dominates them
DOMINANT_MIN_RUNS = 20
DOMINANT_LEAD = 3.0  # ... and this many times the next key's runs
SLOWDOWN = 1.5  # a median this many times the previous period's is a slowdown
BACKLOG_GROWTH = 2.0  # a p95 wait this many times the previous period's, with jobs waiting
BACKLOG_MIN_WAIT = 1.0  # seconds: waits below this are no backlog
SATURATED = 0.8  # busy share of the worker slots over the range
MISSED_SHARE = 0.1  # missed fires as a share of a task's fires (runs + missed)
MISSED_MIN = 3
RETRYABLE_CLASSES = frozenset({"timeout", "network", "rate_limit", "server_error"})


@dataclass(frozen=True)
class Finding:
    rule: str
    task: str | None  # None: the whole deployment
    message: str  # what stands out
    suggestion: str  # what to do about it
    evidence: Evidence = field(default_factory=dict)


@dataclass(frozen=True)
class Surroundings:
    """What the rules read besides the rollups, at one instant (one read of the store): the
    pending jobs due by then and the earliest due time among them, the processors, the
    cluster's ``max_concurrent_jobs`` (None: the processes' own), the fires missed in the
    range by task and reason, and since when the given failing tasks fail."""

    due_now: int
    oldest_due_at: datetime | None
    processors: list[ProcessorInfo]
    max_concurrent_jobs: int | None
    missed: dict[str, dict[str, int]]
    failing_since: dict[str, datetime]


def nice_seconds(seconds: float) -> float:
    """``seconds`` rounded up to a value one would write: 1, 2 or 5 times a power of ten."""
    if seconds <= 0:
        return 1.0
    power = 10 ** math.floor(math.log10(seconds))
    for step in (1, 2, 5, 10):
        if step * power >= seconds - 1e-9:
            return float(step * power)
    return float(10 * power)  # pragma: no cover - the loop always returns


def _s(seconds: float | None) -> str:
    return "?" if seconds is None else format_duration(seconds)


def always_failing(figures: Sequence[TaskFigures], since: Mapping[str, datetime]) -> list[Finding]:
    """Tasks with at least two runs in the range, failures, and no success — since when (the
    first failure after the last success, hour resolution)."""
    found = []
    for f in figures:
        if f.runs >= 2 and f.failed and not f.succeeded:
            start = since.get(f.task_name)
            when = f" since {start.isoformat()}" if start else ""
            found.append(
                Finding(
                    "always_failing",
                    f.task_name,
                    f"{f.task_name} failed all {f.failed} decided runs{when}",
                    f"fix the cause (tickwork stats --by error --task {f.task_name}) or disable"
                    " the job until it is fixed",
                    {
                        "runs": f.runs,
                        "failed": f.failed,
                        "since": start.isoformat() if start else None,
                    },
                )
            )
    return found


def timeout_too_tight(
    figures: Sequence[TaskFigures], timeouts: Mapping[str, float]
) -> list[Finding]:
    """A p95 duration at 80 % of the task's timeout or above: a suggested timeout of 1.5 × the
    p99, rounded up to a value one would write, and above the current one."""
    found = []
    for f in figures:
        timeout = timeouts.get(f.task_name)
        p95, p99 = f.durations.quantile(0.95), f.durations.quantile(0.99)
        if timeout is None or p95 is None or p99 is None or p95 < NEAR_TIMEOUT * timeout:
            continue
        suggested = nice_seconds(max(p99 * TIMEOUT_HEADROOM, timeout * 1.25))
        timed_out = f.by_status.get("timeout", 0)
        found.append(
            Finding(
                "timeout_too_tight",
                f.task_name,
                f"{f.task_name}'s p95 duration {_s(p95)} is {p95 / timeout:.0%} of its timeout"
                f" {_s(timeout)} ({timed_out} run(s) timed out)",
                f"raise its timeout to {_s(suggested)}",
                {
                    "p95_seconds": p95,
                    "p99_seconds": p99,
                    "timeout_seconds": timeout,
                    "timed_out": timed_out,
                    "suggested_timeout_seconds": suggested,
                },
            )
        )
    return found


def overlapping_runs(
    figures: Sequence[TaskFigures], intervals: Mapping[str, float]
) -> list[Finding]:
    """Runs longer than the interval between their schedule's fires (5 % of runs or more): the
    next fire comes while a run is still going."""
    found = []
    for f in figures:
        interval = intervals.get(f.task_name)
        timed = f.durations.count
        if interval is None or timed < 1:
            continue
        longer = round(f.durations.count_above(interval))
        if longer < 1 or longer < OVERLAP_SHARE * timed:
            continue
        p95 = f.durations.quantile(0.95)
        found.append(
            Finding(
                "overlapping_runs",
                f.task_name,
                f"{longer} of {timed} runs of {f.task_name} took longer than its schedule's"
                f" interval {_s(interval)}: they overlap the next fire",
                f"schedule it less often (every {_s(nice_seconds((p95 or interval) * 1.2))} or"
                " more) or choose its overlap policy (skip, queue)",
                {"interval_seconds": interval, "longer_runs": longer, "p95_seconds": p95},
            )
        )
    return found


def futile_retries(
    figures: Sequence[TaskFigures],
    max_retries: Mapping[str, int],
    errors: Sequence[ErrorGroup],
) -> list[Finding]:
    """A task that retries (``max_retries`` ≥ 1), whose retryable failures (timeout, network,
    rate limit, server error) are more than one job's worth of attempts, and that never
    succeeded in the range: its retries add load and no success."""
    retryable: dict[str, int] = {}
    top: dict[str, ErrorGroup] = {}
    for g in errors:
        if (g.error_class or "") in RETRYABLE_CLASSES:
            retryable[g.task_name] = retryable.get(g.task_name, 0) + g.count
        best = top.get(g.task_name)
        if best is None or g.count > best.count:
            top[g.task_name] = g
    found = []
    for f in figures:
        retries = max_retries.get(f.task_name, 0)
        failures = retryable.get(f.task_name, 0)
        if retries < 1 or f.succeeded or failures < retries + 1:
            continue
        error = top.get(f.task_name)
        what = f" (mostly {error.error_type}: {error.message})" if error else ""
        found.append(
            Finding(
                "futile_retries",
                f.task_name,
                f"{f.task_name} retried {failures} retryable failure(s){what} and never succeeded",
                "lower its max_retries (retries only add load) or fix the cause",
                {"retryable_failures": failures, "max_retries": retries, "succeeded": 0},
            )
        )
    return found


def dominant_key(keys: Sequence[KeyFigures]) -> list[Finding]:
    """One key with at least half of its task's keyed runs (20 or more, two keys or more) and
    at least three times as many as the next key."""
    by_task: dict[str, list[KeyFigures]] = {}
    for k in keys:
        by_task.setdefault(k.task_name, []).append(k)
    found = []
    for task in sorted(by_task):
        mine = by_task[task]
        total = sum(k.runs for k in mine)
        if len(mine) < 2 or total < DOMINANT_MIN_RUNS:
            continue
        top, runner_up = sorted(mine, key=lambda k: (-k.runs, k.key))[:2]
        if top.runs < DOMINANT_SHARE * total or top.runs < DOMINANT_LEAD * runner_up.runs:
            continue
        found.append(
            Finding(
                "dominant_key",
                task,
                f"key {top.key!r} took {top.runs / total:.0%} of {task}'s {total} keyed runs",
                "limit it so the other keys get their turn: key_limit or key_rate_limit",
                {
                    "key": top.key,
                    "runs": top.runs,
                    "keyed_runs": total,
                    "keys": len(mine),
                    "next_key_runs": runner_up.runs,
                },
            )
        )
    return found


def growing_backlog(
    due_now: int,
    oldest_wait_seconds: float | None,
    wait_p95: float | None,
    previous_wait_p95: float | None,
) -> list[Finding]:
    """Jobs waiting now, and the p95 wait (due → start) at least twice the previous period's
    (and a second or more)."""
    if not due_now or wait_p95 is None or wait_p95 < BACKLOG_MIN_WAIT:
        return []
    if previous_wait_p95 is not None and wait_p95 < BACKLOG_GROWTH * previous_wait_p95:
        return []
    before = "none" if previous_wait_p95 is None else _s(previous_wait_p95)
    return [
        Finding(
            "growing_backlog",
            None,
            f"{due_now} due job(s) waiting (oldest {_s(oldest_wait_seconds)}); the p95 wait"
            f" rose to {_s(wait_p95)} from {before} the period before",
            "add workers or raise max_concurrent_jobs; check for held or slow jobs",
            {
                "due_now": due_now,
                "oldest_wait_seconds": oldest_wait_seconds,
                "wait_p95_seconds": wait_p95,
                "previous_wait_p95_seconds": previous_wait_p95,
            },
        )
    ]


def slowdown(figures: Sequence[TaskFigures], previous: Sequence[TaskFigures]) -> list[Finding]:
    """A median duration at least 1.5 × the previous period's (5 timed runs or more in each)."""
    before = {f.task_name: f for f in previous}
    found = []
    for f in figures:
        old = before.get(f.task_name)
        if old is None or f.durations.count < MIN_RUNS or old.durations.count < MIN_RUNS:
            continue
        now_p50, old_p50 = f.durations.quantile(0.5), old.durations.quantile(0.5)
        if now_p50 is None or not old_p50 or now_p50 < SLOWDOWN * old_p50:
            continue
        found.append(
            Finding(
                "slowdown",
                f.task_name,
                f"{f.task_name}'s median duration rose to {_s(now_p50)} from {_s(old_p50)}"
                f" ({now_p50 / old_p50:.1f}×) against the previous period",
                "look at what changed: its code, its inputs, or what it calls",
                {"p50_seconds": now_p50, "previous_p50_seconds": old_p50},
            )
        )
    return found


def saturated_slots(busy_seconds: float, range_seconds: float, slots: int) -> list[Finding]:
    """Runs kept the worker slots (live workers × max_concurrent_jobs) busy 80 % of the range
    or more."""
    if slots <= 0 or range_seconds <= 0:
        return []
    share = busy_seconds / (range_seconds * slots)
    if share < SATURATED:
        return []
    return [
        Finding(
            "saturated_slots",
            None,
            f"runs kept the {slots} worker slot(s) {share:.0%} busy",
            "raise max_concurrent_jobs or add a worker",
            {
                "busy_seconds": busy_seconds,
                "range_seconds": range_seconds,
                "slots": slots,
                "busy_share": share,
            },
        )
    ]


def missed_fires(missed: Mapping[str, Mapping[str, int]], runs: Mapping[str, int]) -> list[Finding]:
    """Three missed fires or more, and 10 % or more of the task's fires (runs + missed); the
    suggestion follows the commonest reason."""
    advice = {
        "overlap": "runs overlap their next fire: see its durations, or use overlap = 'queue'",
        "misfire": "fires came late (no scheduler up, or the scheduler fell behind):"
        " run a scheduler, or set misfire = 'run_once'",
        "calendar": "its calendar closes over its fire times: check the calendar",
        "disabled": "it is disabled: enable it or remove its schedule",
        "paused": "processing was paused: resume it",
    }
    found = []
    for task in sorted(missed):
        reasons = missed[task]
        total = sum(reasons.values())
        fires = total + runs.get(task, 0)
        if total < MISSED_MIN or total < MISSED_SHARE * fires:
            continue
        reason = max(reasons, key=lambda r: (reasons[r], r))
        found.append(
            Finding(
                "missed_fires",
                task,
                f"{task} missed {total} of {fires} fires (mostly: {reason})",
                advice.get(reason, "check why its fires did not run"),
                {"missed": total, "fires": fires, **{f"missed_{r}": n for r, n in reasons.items()}},
            )
        )
    return found

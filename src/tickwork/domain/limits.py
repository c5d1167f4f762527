"""Execution policies of a task: overlap, misfire, concurrency per key, rate limits, cooldowns."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from tickwork.domain.dependencies import After, Requirement, parse_after, parse_requires
from tickwork.domain.durations import parse_duration
from tickwork.errors import ConfigError

DEFAULT_CATCH_UP_WINDOW_SECONDS = 3600.0
DEFAULT_CATCH_UP_MAX = 10
_RATE = re.compile(r"\s*(\d+)\s*(?:per|/)\s*(\S+)\s*", re.IGNORECASE)


class OverlapPolicy(StrEnum):
    """What a schedule fire does while an earlier job of the same task is still active."""

    SKIP = "skip"  # record the fire as skipped
    QUEUE = "queue"  # create it; it starts when the earlier one ends
    ALLOW = "allow"  # create it and let both run
    REPLACE = "replace"  # cancel the earlier one, run this one


class MisfirePolicy(StrEnum):
    """What to do with fires missed while nothing was running (downtime)."""

    SKIP = "skip"  # none of them; carry on from now
    RUN_ONCE = "run_once"  # one job for the whole gap
    CATCH_UP = "catch_up"  # each missed fire within a window, up to a maximum


@dataclass(frozen=True)
class RateLimit:
    """At most ``limit`` starts per ``period_seconds`` (GCRA: a burst of ``limit`` is allowed)."""

    limit: int
    period_seconds: float

    def __post_init__(self) -> None:
        if self.limit < 1:
            raise ConfigError(f"limit must be >= 1, got {self.limit}", field="rate_limit")
        if self.period_seconds <= 0:
            raise ConfigError(
                f"period must be > 0, got {self.period_seconds:g}s", field="rate_limit"
            )

    @property
    def interval_seconds(self) -> float:
        return self.period_seconds / self.limit

    @classmethod
    def parse(cls, text: str, *, field: str = "rate_limit") -> RateLimit:
        """``"10 per 1m"``, ``"1000/1s"`` → RateLimit; ConfigError naming ``field`` otherwise."""
        match = _RATE.fullmatch(text) if isinstance(text, str) else None
        if match is None:
            raise ConfigError(
                f"invalid rate {text!r}: expected e.g. '10 per 1m' or '1000/1s'", field=field
            )
        try:
            return cls(int(match.group(1)), parse_duration(match.group(2), field=field))
        except ConfigError as exc:
            raise ConfigError(f"invalid rate {text!r}: {exc.reason}", field=field) from None

    def __str__(self) -> str:
        return f"{self.limit} per {self.period_seconds:g}s"


@dataclass(frozen=True)
class Policies:
    """A task's execution policies; the defaults change nothing."""

    overlap: OverlapPolicy = OverlapPolicy.SKIP
    misfire: MisfirePolicy = MisfirePolicy.SKIP
    catch_up_window_seconds: float = DEFAULT_CATCH_UP_WINDOW_SECONDS
    catch_up_max: int = DEFAULT_CATCH_UP_MAX
    rate_limit: RateLimit | None = None  # starts of this task
    key_rate_limit: RateLimit | None = None  # starts of this task per key
    key_limit: int | None = None  # running jobs per key; None: the process-wide default
    cooldown_seconds: float = 0.0  # minimum gap between starts per key (per task without key)
    guard: str | None = None  # "module:function" called before each run
    isolated: bool = False  # Python tasks: run in a child process that can be killed
    calendar: dict[str, Any] | None = None  # a calendar spec (domain/calendars.py)
    # Auto-rescheduling rules turned on or off for this task (domain/autoschedule.py).
    autoschedule: dict[str, bool] = field(default_factory=dict)
    # Dependencies (domain/dependencies.py): run after these jobs end; fire only if these held.
    after: tuple[After, ...] = ()
    requires: tuple[Requirement, ...] = ()
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.key_limit is not None and self.key_limit < 1:
            raise ConfigError(f"must be >= 1, got {self.key_limit}", field="key_limit")
        if self.cooldown_seconds < 0:
            raise ConfigError("must be >= 0", field="cooldown")
        if self.catch_up_window_seconds <= 0:
            raise ConfigError("must be > 0", field="catch_up_window")
        if self.catch_up_max < 1:
            raise ConfigError(f"must be >= 1, got {self.catch_up_max}", field="catch_up_max")


def policies_to_dict(p: Policies) -> dict[str, Any]:
    """A JSON-able form for storage; ``policies_from_dict`` reverses it."""
    out: dict[str, Any] = {}
    if p.overlap is not OverlapPolicy.SKIP:
        out["overlap"] = p.overlap.value
    if p.misfire is not MisfirePolicy.SKIP:
        out["misfire"] = p.misfire.value
    if p.catch_up_window_seconds != DEFAULT_CATCH_UP_WINDOW_SECONDS:
        out["catch_up_window_seconds"] = p.catch_up_window_seconds
    if p.catch_up_max != DEFAULT_CATCH_UP_MAX:
        out["catch_up_max"] = p.catch_up_max
    for name in ("rate_limit", "key_rate_limit"):
        rate = getattr(p, name)
        if rate is not None:
            out[name] = [rate.limit, rate.period_seconds]
    if p.key_limit is not None:
        out["key_limit"] = p.key_limit
    if p.cooldown_seconds:
        out["cooldown_seconds"] = p.cooldown_seconds
    if p.guard:
        out["guard"] = p.guard
    if p.isolated:
        out["isolated"] = True
    if p.calendar is not None:
        out["calendar"] = p.calendar
    if p.autoschedule:
        out["autoschedule"] = p.autoschedule
    if p.after:
        out["after"] = [a.to_dict() for a in p.after]
    if p.requires:
        out["requires"] = [r.to_dict() for r in p.requires]
    if p.extra:
        out["extra"] = p.extra
    return out


def policies_from_dict(data: dict[str, Any] | None) -> Policies:
    if not data:
        return Policies()

    def rate(name: str) -> RateLimit | None:
        value = data.get(name)
        return RateLimit(int(value[0]), float(value[1])) if value else None

    return Policies(
        overlap=OverlapPolicy(data.get("overlap", "skip")),
        misfire=MisfirePolicy(data.get("misfire", "skip")),
        catch_up_window_seconds=float(
            data.get("catch_up_window_seconds", DEFAULT_CATCH_UP_WINDOW_SECONDS)
        ),
        catch_up_max=int(data.get("catch_up_max", DEFAULT_CATCH_UP_MAX)),
        rate_limit=rate("rate_limit"),
        key_rate_limit=rate("key_rate_limit"),
        key_limit=data.get("key_limit"),
        cooldown_seconds=float(data.get("cooldown_seconds", 0.0)),
        guard=data.get("guard"),
        isolated=bool(data.get("isolated", False)),
        calendar=data.get("calendar"),
        autoschedule=data.get("autoschedule") or {},
        after=parse_after(data.get("after") or []),
        requires=parse_requires(data.get("requires") or []),
        extra=data.get("extra") or {},
    )

"""Heartbeat checks, a dead man's switch for cron jobs that run elsewhere: what a check is
(a period or a cron expression, and a grace time), the pings it receives, and its status.

Everything here is pure: ``now`` is an argument. A check is

- ``new`` until its first success or failure ping (a start alone does not make it up);
- ``up`` while the next ping is not yet due (a period after the last finish, or the cron
  expression's next time after it);
- ``late`` from then on, within the grace time;
- ``down`` after the grace time, after a failure ping (``/fail``, a non-zero exit status), or
  when a run that started (``/start``) did not finish within the grace time;
- ``paused`` while an operator paused it (the next ping resumes it, as healthchecks does).

A run in progress (started within the grace time) keeps a check that is due from going late
or down: the job did start. A finish pairs with its start (by ``rid`` when one is given) to
give the run's duration.
"""

from __future__ import annotations

import dataclasses
import re
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from tickwork.domain.durations import format_duration
from tickwork.domain.schedules import load_timezone, parse_schedule
from tickwork.errors import ConfigError

NAME_PATTERN = r"^[a-z0-9][a-z0-9_.-]{0,99}$"
_NAME = re.compile(NAME_PATTERN)
_RID = re.compile(r"[A-Za-z0-9_.:-]{1,64}")
DEFAULT_PERIOD_SECONDS = 86_400.0
DEFAULT_GRACE_SECONDS = 3_600.0
MIN_SECONDS = 1.0
MAX_SECONDS = 366 * 86_400.0
# A ping's body is kept up to this many bytes (the rest is cut, its full size recorded).
MAX_BODY_BYTES = 10 * 1024
# Pings kept per check at most, newest; older ones go when a new one is written. A ceiling
# against a flood between pruning passes: retention (``[retention] pings_days`` and
# ``keep_last_pings``) decides what is kept, and the weekly report replays a week of pings for
# each check's uptime (a check pinged every minute sends 10,080 a week).
KEEP_PINGS = 10_000
MAX_EXIT_STATUS = 255
MAX_TAGS = 20


class CheckStatus(StrEnum):
    NEW = "new"
    UP = "up"
    LATE = "late"
    DOWN = "down"
    PAUSED = "paused"


class PingKind(StrEnum):
    SUCCESS = "success"
    START = "start"
    FAIL = "fail"
    LOG = "log"  # recorded, changes nothing


FINISHES = frozenset({PingKind.SUCCESS, PingKind.FAIL})


class CheckSource(StrEnum):
    CONFIG = "config"  # [[checks]] in tickwork.toml, synced by each process
    API = "api"  # made over the API, the CLI or the dashboard
    PING = "ping"  # made by a ping to /ping/{ping_key}/{slug}?create=1


def new_check_uuid() -> str:
    """The check's ping address: random (122 bits), so it can serve as the only credential."""
    return str(uuid.uuid4())


def check_uuid(text: str) -> str | None:
    """``text`` as a canonical UUID string, or None when it is not one."""
    try:
        return str(uuid.UUID(text))
    except ValueError:
        return None


@dataclass(frozen=True)
class CheckSpec:
    """What an operator defines: a name (also the slug of the slug ping form), when pings are
    expected (``period_seconds``, or ``cron`` in ``timezone``) and the grace time."""

    name: str
    period_seconds: float | None = None
    cron: str | None = None
    timezone: str = "UTC"
    grace_seconds: float = DEFAULT_GRACE_SECONDS
    description: str = ""
    tags: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not _NAME.fullmatch(self.name):
            raise ConfigError(
                "expected 1-100 lower-case letters, digits or '_.-', starting with a letter or"
                f" digit, got {self.name!r}",
                field="name",
            )
        if self.cron is not None and self.period_seconds is not None:
            raise ConfigError("give a period or a cron expression, not both", field="cron")
        if self.cron is None and self.period_seconds is None:
            object.__setattr__(self, "period_seconds", DEFAULT_PERIOD_SECONDS)
        if self.period_seconds is not None:
            _seconds(self.period_seconds, "period")
        if self.cron is not None:
            if not self.cron.strip() or self.cron.strip().lower().startswith("every"):
                raise ConfigError(
                    f"expected a cron expression (e.g. '0 3 * * *'), got {self.cron!r}",
                    field="cron",
                )
            try:
                parse_schedule(self.cron, self.timezone)
            except ConfigError as exc:
                field = "timezone" if exc.field == "timezone" else "cron"
                raise ConfigError(exc.reason, field=field) from None
        else:
            try:
                load_timezone(self.timezone)
            except ConfigError as exc:
                raise ConfigError(exc.reason, field="timezone") from None
        _seconds(self.grace_seconds, "grace")
        if not isinstance(self.description, str) or len(self.description) > 1000:
            raise ConfigError("expected at most 1000 characters", field="description")
        if len(self.tags) > MAX_TAGS or not all(
            isinstance(t, str) and 0 < len(t) <= 50 for t in self.tags
        ):
            raise ConfigError(f"expected at most {MAX_TAGS} tags of 1-50 characters", field="tags")

    @property
    def expected(self) -> str:
        """When pings are expected, in words."""
        if self.cron is not None:
            return f"cron {self.cron} ({self.timezone})"
        return f"every {format_duration(self.period_seconds or 0.0)}"


@dataclass(frozen=True)
class Check:
    """A stored check: its spec's fields, where it came from, and what its pings told."""

    uuid: str
    name: str
    period_seconds: float | None
    cron: str | None
    timezone: str
    grace_seconds: float
    description: str
    tags: tuple[str, ...]
    source: CheckSource
    created_at: datetime
    paused_at: datetime | None = None
    last_ping_at: datetime | None = None
    last_ping_kind: PingKind | None = None
    last_outcome: PingKind | None = None  # SUCCESS or FAIL: the last finish
    last_outcome_at: datetime | None = None
    last_exit_status: int | None = None
    started_at: datetime | None = None  # a start not finished yet
    start_rid: str | None = None
    last_duration_seconds: float | None = None
    pings: int = 0

    @property
    def spec(self) -> CheckSpec:
        return CheckSpec(
            name=self.name,
            period_seconds=self.period_seconds,
            cron=self.cron,
            timezone=self.timezone,
            grace_seconds=self.grace_seconds,
            description=self.description,
            tags=self.tags,
        )

    def with_spec(self, spec: CheckSpec) -> Check:
        return dataclasses.replace(
            self,
            name=spec.name,
            period_seconds=spec.period_seconds,
            cron=spec.cron,
            timezone=spec.timezone,
            grace_seconds=spec.grace_seconds,
            description=spec.description,
            tags=spec.tags,
        )


def new_check(
    spec: CheckSpec, source: CheckSource, now: datetime, given_uuid: str | None = None
) -> Check:
    return Check(
        uuid=given_uuid or new_check_uuid(),
        name=spec.name,
        period_seconds=spec.period_seconds,
        cron=spec.cron,
        timezone=spec.timezone,
        grace_seconds=spec.grace_seconds,
        description=spec.description,
        tags=spec.tags,
        source=source,
        created_at=now,
    )


@dataclass(frozen=True)
class NewPing:
    """A ping as received: what it says, and who sent it (the body cut to ``MAX_BODY_BYTES``)."""

    kind: PingKind
    at: datetime
    exit_status: int | None = None
    rid: str | None = None
    method: str = "GET"
    remote_addr: str = ""
    user_agent: str = ""
    body: str = ""
    body_bytes: int = 0  # the size received, before the cut

    def __post_init__(self) -> None:
        if self.rid is not None and not _RID.fullmatch(self.rid):
            raise ConfigError(
                f"expected 1-64 letters, digits or '_.:-', got {self.rid[:70]!r}", field="rid"
            )


@dataclass(frozen=True)
class Ping:
    """A stored ping of a check, with the duration of the run it finished (if paired)."""

    id: int
    check_uuid: str
    kind: PingKind
    at: datetime
    exit_status: int | None
    rid: str | None
    method: str
    remote_addr: str
    user_agent: str
    body: str
    body_bytes: int
    duration_seconds: float | None = None


def ping_of(
    action: str | None,
    at: datetime,
    *,
    rid: str | None = None,
    method: str = "GET",
    remote_addr: str = "",
    user_agent: str = "",
    body: bytes = b"",
    body_bytes: int | None = None,
) -> NewPing:
    """The ping of a URL's last part (``None``/empty: success; ``start``, ``fail``, ``log``,
    or an exit status 0-255: 0 is a success, anything else a failure). ``body`` is kept up
    to ``MAX_BODY_BYTES``; ``body_bytes``: the size sent, when ``body`` was cut already."""
    exit_status = None
    if not action:
        kind = PingKind.SUCCESS
    elif action in (PingKind.START, PingKind.FAIL, PingKind.LOG):
        kind = PingKind(action)
    elif action.isdigit() and int(action) <= MAX_EXIT_STATUS:
        exit_status = int(action)
        kind = PingKind.SUCCESS if exit_status == 0 else PingKind.FAIL
    else:
        raise ConfigError(
            f"expected start, fail, log or an exit status 0-{MAX_EXIT_STATUS}, got {action[:20]!r}",
            field="action",
        )
    kept = body[:MAX_BODY_BYTES].decode("utf-8", errors="replace").replace("\x00", "")
    return NewPing(
        kind=kind,
        at=at,
        exit_status=exit_status,
        rid=rid or None,
        method=method[:8],
        remote_addr=remote_addr[:64],
        user_agent=user_agent[:200],
        body=kept,
        body_bytes=len(body) if body_bytes is None else body_bytes,
    )


@dataclass(frozen=True)
class PingResult:
    check: Check
    duration_seconds: float | None = None  # the run this ping finished, from its start


def receive(check: Check, ping: NewPing, rid_started_at: datetime | None = None) -> PingResult:
    """The check after ``ping``. ``rid_started_at``: when the start with the ping's ``rid``
    came, if it is not the check's latest start (overlapping runs); the store looks it up."""
    changes: dict[str, object] = {
        "last_ping_at": ping.at,
        "last_ping_kind": ping.kind,
        "pings": check.pings + 1,
        "paused_at": None,  # a ping resumes a paused check
    }
    duration = None
    if ping.kind is PingKind.START:
        changes.update(started_at=ping.at, start_rid=ping.rid)
    elif ping.kind in FINISHES:
        latest = check.started_at is not None and (ping.rid is None or ping.rid == check.start_rid)
        started = check.started_at if latest else rid_started_at
        if started is not None and started <= ping.at:
            duration = (ping.at - started).total_seconds()
        if latest:
            changes.update(started_at=None, start_rid=None)
        changes.update(
            last_outcome=ping.kind,
            last_outcome_at=ping.at,
            last_exit_status=ping.exit_status,
            last_duration_seconds=duration,
        )
    return PingResult(dataclasses.replace(check, **changes), duration)  # type: ignore[arg-type]


def due_at(check: Check) -> datetime | None:
    """When the next ping is expected (after the last finish); None before the first one."""
    last = check.last_outcome_at
    if last is None:
        return None
    if check.cron is not None:
        return parse_schedule(check.cron, check.timezone).next_after(last)
    return last + timedelta(seconds=check.period_seconds or DEFAULT_PERIOD_SECONDS)


def running(check: Check, now: datetime) -> bool:
    """Whether a run started and has not finished, within the grace time."""
    grace = timedelta(seconds=check.grace_seconds)
    return check.started_at is not None and now < check.started_at + grace


@dataclass(frozen=True)
class CheckState:
    """A check's status at a time, why, and when it is expected next / goes down."""

    status: CheckStatus
    why: str = ""
    next_expected_at: datetime | None = None
    down_at: datetime | None = None  # when it goes down if no ping comes (up, late, new+start)


def check_state(check: Check, now: datetime) -> CheckState:
    """``check``'s status at ``now``."""
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    if check.paused_at is not None:
        return CheckState(CheckStatus.PAUSED, "paused")
    grace = timedelta(seconds=check.grace_seconds)
    if check.started_at is not None and now >= check.started_at + grace:
        return CheckState(
            CheckStatus.DOWN,
            f"started {check.started_at:%Y-%m-%d %H:%M:%S} UTC and did not finish within"
            f" {format_duration(check.grace_seconds)}",
        )
    start_limit = None if check.started_at is None else check.started_at + grace
    if check.last_outcome is None:
        return CheckState(CheckStatus.NEW, "no ping yet", down_at=start_limit)
    if check.last_outcome is PingKind.FAIL:
        code = "" if check.last_exit_status is None else f" (exit status {check.last_exit_status})"
        at = check.last_outcome_at
        return CheckState(
            CheckStatus.DOWN, f"failure reported {at:%Y-%m-%d %H:%M:%S} UTC{code}", down_at=at
        )
    due = due_at(check)
    assert due is not None
    down = due + grace
    if now < due or start_limit is not None:
        # Not due yet, or due but a run is in progress within its grace: alive.
        limit = down if start_limit is None else max(down, start_limit)
        return CheckState(CheckStatus.UP, "", next_expected_at=due, down_at=limit)
    if now < down:
        return CheckState(
            CheckStatus.LATE,
            f"expected by {due:%Y-%m-%d %H:%M:%S} UTC, within its grace",
            next_expected_at=due,
            down_at=down,
        )
    return CheckState(
        CheckStatus.DOWN,
        f"no ping since {check.last_outcome_at:%Y-%m-%d %H:%M:%S} UTC (expected by"
        f" {due:%Y-%m-%d %H:%M:%S} UTC, grace {format_duration(check.grace_seconds)})",
        next_expected_at=due,
        down_at=down,
    )


def _seconds(value: object, name: str) -> None:
    ok = isinstance(value, int | float) and not isinstance(value, bool)
    if not ok or not MIN_SECONDS <= value <= MAX_SECONDS:  # type: ignore[operator]
        raise ConfigError(f"expected a duration from 1s to 366d, got {value!r}", field=name)

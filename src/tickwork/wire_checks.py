"""How both adapters show a heartbeat check and its pings (``wire.py``'s habits: one pydantic
model per object, built by one function; the REST API returns it, the CLI's ``--json`` prints
its fields). Kept beside ``wire.py`` so that each stays a readable size."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from tickwork.wire import Shape

if TYPE_CHECKING:
    from tickwork.domain.checks import Ping
    from tickwork.service.checks import CheckView


class CheckOut(Shape):
    uuid: str  # the ping address: /ping/{uuid}
    name: str  # also the slug: /ping/{ping_key}/{name}
    status: str  # new | up | late | down | paused
    why: str  # why it is late or down
    running: bool  # a run started and has not finished, within the grace time
    period_seconds: float | None
    cron: str | None
    timezone: str
    grace_seconds: float
    expected: str  # the period or cron expression in words
    description: str
    tags: list[str]
    source: str  # config | api | ping
    created_at: datetime
    paused_at: datetime | None
    last_ping_at: datetime | None
    last_ping_kind: str | None  # success | start | fail | log
    last_outcome: str | None  # success | fail: the last finish
    last_outcome_at: datetime | None
    last_exit_status: int | None
    last_duration_seconds: float | None  # of the last run, from its start to its finish
    started_at: datetime | None
    next_expected_at: datetime | None
    down_at: datetime | None  # when it goes down if no ping comes
    pings: int


def check_out(view: CheckView) -> CheckOut:
    c, s = view.check, view.state
    return CheckOut(
        uuid=c.uuid,
        name=c.name,
        status=s.status.value,
        why=s.why,
        running=view.running,
        period_seconds=c.period_seconds,
        cron=c.cron,
        timezone=c.timezone,
        grace_seconds=c.grace_seconds,
        expected=c.spec.expected,
        description=c.description,
        tags=list(c.tags),
        source=c.source.value,
        created_at=c.created_at,
        paused_at=c.paused_at,
        last_ping_at=c.last_ping_at,
        last_ping_kind=None if c.last_ping_kind is None else c.last_ping_kind.value,
        last_outcome=None if c.last_outcome is None else c.last_outcome.value,
        last_outcome_at=c.last_outcome_at,
        last_exit_status=c.last_exit_status,
        last_duration_seconds=c.last_duration_seconds,
        started_at=c.started_at,
        next_expected_at=s.next_expected_at,
        down_at=s.down_at,
        pings=c.pings,
    )


class PingOut(Shape):
    id: int
    kind: str  # success | start | fail | log
    at: datetime
    exit_status: int | None
    rid: str | None
    method: str
    remote_addr: str
    user_agent: str
    body: str  # up to 10 KiB of what was sent
    body_bytes: int  # the size sent
    duration_seconds: float | None  # the run this ping finished, from its start


def ping_out(p: Ping) -> PingOut:
    return PingOut(
        id=p.id,
        kind=p.kind.value,
        at=p.at,
        exit_status=p.exit_status,
        rid=p.rid,
        method=p.method,
        remote_addr=p.remote_addr,
        user_agent=p.user_agent,
        body=p.body,
        body_bytes=p.body_bytes,
        duration_seconds=p.duration_seconds,
    )

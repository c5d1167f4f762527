"""``Checks``: heartbeat checks for cron jobs that run elsewhere. Made, changed, paused,
resumed and removed by operators (audited: ``check.create``, ``check.update``,
``check.pause``, ``check.resume``, ``check.delete``), listed with their status now, and pinged
(by UUID, or by name where the caller knows the ping key, creating the check if asked). The
configuration's ``[[checks]]`` are synced by each process and changed only in the file.

A check going down is an alert subject (``check:NAME``) of the ``check_down`` rules: the
evaluator reads the checks and steps those rules like any other.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from tickwork.config.checks import changed_spec, check_spec, spec_table
from tickwork.domain.checks import (
    Check,
    CheckSource,
    CheckSpec,
    CheckState,
    CheckStatus,
    Ping,
    check_state,
    check_uuid,
    new_check,
    ping_of,
    running,
)
from tickwork.domain.report import CheckUptime
from tickwork.domain.uptime import (
    HOUR,
    HourFigures,
    KeptHours,
    Span,
    combined,
    replay_ranges,
    settled_hours,
    status_spans,
)
from tickwork.errors import ConfigError, ConflictError, NotFoundError
from tickwork.service.context import Context
from tickwork.store.checking import CheckSyncReport, PingWrite

PINGS_LIMIT = 100


@dataclass(frozen=True)
class CheckView:
    """A check and its status at ``at``."""

    check: Check
    state: CheckState
    running: bool
    at: datetime


@dataclass(frozen=True)
class PingRequest:
    """A ping as an adapter received it: the URL's last part, ``rid``, who sent it, the body."""

    action: str | None = None
    rid: str | None = None
    method: str = "GET"
    remote_addr: str = ""
    user_agent: str = ""
    body: bytes = b""
    body_bytes: int | None = None  # the size sent, when ``body`` holds only its start


@dataclass(frozen=True)
class PingResult:
    view: CheckView
    ping: Ping
    created: bool = False  # the check was made by this ping (?create=1)


class Checks:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    def view(self, check: Check) -> CheckView:
        now = self.ctx.clock.now()
        return CheckView(check, check_state(check, now), running(check, now), now)

    async def list_all(self, *, tag: str | None = None) -> list[CheckView]:
        """Every check (with ``tag``), by name, with its status now."""
        found = await self.ctx.store.list_checks()
        return [self.view(c) for c in found if tag is None or tag in c.tags]

    async def get(self, key: str) -> CheckView:
        """The check whose UUID or name is ``key``."""
        return self.view(await self._check(key))

    async def pings(
        self, key: str, *, limit: int = 50, before_id: int | None = None
    ) -> tuple[CheckView, list[Ping]]:
        """A check and its pings, newest first."""
        if not 1 <= limit <= PINGS_LIMIT:
            raise ConfigError(f"must be from 1 to {PINGS_LIMIT}, got {limit}", field="limit")
        check = await self._check(key)
        found = await self.ctx.store.check_pings(check.uuid, limit=limit, before_id=before_id)
        return self.view(check), found

    async def create(self, data: Mapping[str, Any]) -> CheckView:
        """A new check from a table of ``config.checks.CHECK_KEYS``; ``ConflictError`` when
        the name is taken."""
        spec = check_spec(data)
        made = await self.ctx.store.create_check(
            new_check(spec, CheckSource.API, self.ctx.clock.now())
        )
        if made is None:
            raise ConflictError(f"a check named {spec.name!r} exists")
        await self.ctx.audit("check.create", "check", spec.name, after=spec_table(spec))
        return self.view(made)

    async def update(self, key: str, changes: Mapping[str, Any]) -> CheckView:
        """Change a check's spec (the keys given; None: back to the default). Checks of
        tickwork.toml change there only."""
        check = await self._check(key)
        self._not_configured(check, "changed")
        spec = changed_spec(check.spec, changes)
        changed = await self.ctx.store.update_check(check.uuid, spec)
        if changed is None:
            raise NotFoundError(f"no check {key!r}")
        before, after = spec_table(check.spec), spec_table(spec)
        await self.ctx.audit("check.update", "check", check.name, before=before, after=after)
        return self.view(changed)

    async def delete(self, key: str) -> Check:
        check = await self._check(key)
        self._not_configured(check, "removed")
        gone = await self.ctx.store.delete_check(check.uuid)
        if gone is None:
            raise NotFoundError(f"no check {key!r}")
        await self.ctx.audit("check.delete", "check", check.name, before=spec_table(check.spec))
        return gone

    async def pause(self, key: str) -> CheckView:
        """Pause a check: no alerts until it is resumed or pinged again."""
        return await self._pause(key, self.ctx.clock.now())

    async def resume(self, key: str) -> CheckView:
        """Resume a paused check: new again until its next ping."""
        return await self._pause(key, None)

    async def ping(
        self,
        request: PingRequest,
        *,
        uuid: str | None = None,
        name: str | None = None,
        create: bool = False,
    ) -> PingResult:
        """Record a ping of the check ``uuid`` (the ping address) or ``name``; with
        ``create``, a check of that name is made (the defaults) when there is none.
        ``NotFoundError`` when there is no such check."""
        now = self.ctx.clock.now()
        ping = ping_of(
            request.action,
            now,
            rid=request.rid,
            method=request.method,
            remote_addr=request.remote_addr,
            user_agent=request.user_agent,
            body=request.body,
            body_bytes=request.body_bytes,
        )
        made = None
        if uuid is not None:
            canonical = check_uuid(uuid)
            if canonical is None:
                raise NotFoundError("no such check")
            write = PingWrite(ping, uuid=canonical)
        else:
            if name is None:
                raise ValueError("a ping names a check by uuid or name")
            if create:
                made = new_check(check_spec({"name": name}), CheckSource.PING, now)
            write = PingWrite(ping, name=name, create=made)
        found = await self.ctx.store.record_ping(write)
        if found is None:
            raise NotFoundError("no such check")
        check, stored = found.after, found.ping
        if _down(found.before, now) != _down(check, now):
            # A check went down or came back: evaluate alerts now, in this process through its
            # hook and in every other one through the store (the evaluator may run elsewhere).
            self.ctx.checks_changed()
            await self.ctx.store.notify_alerts()
        created = made is not None and check.uuid == made.uuid
        if created:
            await self.ctx.audit("check.create", "check", check.name, after=spec_table(check.spec))
        return PingResult(self.view(check), stored, created)

    async def uptimes(self, start: datetime, end: datetime) -> list[CheckUptime]:
        """Each check's uptime over ``[start, end)`` (the weekly report's section), by name:
        the hours kept already read, the rest replayed from the stored pings and its settled
        hours kept (``domain/uptime.py``)."""
        store = self.ctx.store
        settled = settled_hours(start, end, self.ctx.clock.now())
        kept: dict[str, KeptHours] = {}
        if settled:
            found = await store.check_hours(settled[0], settled[-1] + HOUR)
            kept = {k.check_uuid: k for k in found}
        checks = await store.list_checks()
        ranges = {c.uuid: replay_ranges(start, end, _runs(kept.get(c.uuid))) for c in checks}
        replayed: dict[str, list[Span]] = {}
        # Checks with the same hours kept share ranges: one read of the pings per range.
        for a, b in sorted({r for wanted in ranges.values() for r in wanted}):
            for check, history in await store.check_histories(a, b):
                if (a, b) in ranges.get(check.uuid, ()):
                    spans = status_spans(check, history, a, b)
                    replayed.setdefault(check.uuid, []).extend(spans)
        lines: list[CheckUptime] = []
        fresh: list[HourFigures] = []
        for check in checks:
            line, hours = combined(
                check, kept.get(check.uuid), replayed.get(check.uuid, []), settled, end
            )
            lines.append(line)
            fresh += hours
        await store.keep_check_hours(fresh)
        return lines

    async def sync(self, specs: Sequence[CheckSpec]) -> CheckSyncReport:
        """The configuration's checks made what ``specs`` say (by each process at start)."""
        now = self.ctx.clock.now()
        wanted = [new_check(spec, CheckSource.CONFIG, now) for spec in specs]
        report = await self.ctx.store.sync_checks(wanted, now)
        for action, names in (
            ("check.create", report.created),
            ("check.update", report.updated),
            ("check.delete", report.removed),
        ):
            for name in names:
                await self.ctx.audit(action, "check", name)
        return report

    async def _pause(self, key: str, at: datetime | None) -> CheckView:
        check = await self._check(key)
        changed = await self.ctx.store.pause_check(check.uuid, at)
        if changed is None:
            raise NotFoundError(f"no check {key!r}")
        await self.ctx.audit("check.pause" if at else "check.resume", "check", check.name)
        return self.view(changed)

    async def _check(self, key: str) -> Check:
        found = await self.ctx.store.get_check(key)
        if found is None:
            raise NotFoundError(f"no check {key!r}")
        return found

    @staticmethod
    def _not_configured(check: Check, what: str) -> None:
        if check.source is CheckSource.CONFIG:
            raise ConflictError(
                f"check {check.name!r} is defined in tickwork.toml; it is {what} there"
            )


def _down(check: Check, now: datetime) -> bool:
    return check_state(check, now).status is CheckStatus.DOWN


def _runs(kept: KeptHours | None) -> tuple[tuple[datetime, datetime], ...]:
    return () if kept is None else kept.runs

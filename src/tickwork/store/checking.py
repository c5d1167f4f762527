"""The store's roles for heartbeat checks: what the alert evaluator reads (``CheckReads``), and
checks with their pings for the use cases (``Checks``). ``store.base`` composes them into
``RuntimeStore`` and ``Store``; the same contract rules apply (coroutines, aware UTC, atomic).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from tickwork.domain.checks import Check, CheckSpec, NewPing, Ping


@dataclass(frozen=True)
class PingWrite:
    """A ping for the check of ``uuid``, or of ``name`` (the slug form); ``create``: the check
    to add when no check has that name (``?create=1``)."""

    ping: NewPing
    uuid: str | None = None
    name: str | None = None
    create: Check | None = None


@dataclass(frozen=True)
class RecordedPing:
    """A stored ping and its check before and after it."""

    before: Check
    after: Check
    ping: Ping


@dataclass(frozen=True)
class CheckSyncReport:
    created: tuple[str, ...] = ()
    updated: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()


class CheckReads(Protocol):
    async def list_checks(self) -> list[Check]:
        """Every check, by name."""
        ...


class Checks(CheckReads, Protocol):
    """Checks by UUID (their ping address) or name, and their pings."""

    async def get_check(self, key: str) -> Check | None:
        """The check whose UUID (canonical form) or name is ``key``."""
        ...

    async def create_check(self, check: Check) -> Check | None:
        """Add ``check``; None when its name (or UUID) is taken."""
        ...

    async def update_check(self, uuid: str, spec: CheckSpec) -> Check | None:
        """Replace the spec of the check ``uuid`` (its pings and their effects kept); None when
        there is no such check. ``ConflictError`` when another check has the new name."""
        ...

    async def pause_check(self, uuid: str, paused_at: datetime | None) -> Check | None:
        """Pause the check (``paused_at``) or resume it (None); None when there is none."""
        ...

    async def delete_check(self, uuid: str) -> Check | None:
        """Remove the check and its pings; the check as it was, or None."""
        ...

    async def record_ping(self, write: PingWrite) -> RecordedPing | None:
        """Apply ``write.ping`` to its check (``domain.checks.receive``) under a row lock, store
        the ping (and drop the check's pings beyond ``KEEP_PINGS``); the check before and after
        it and the stored ping, or None when there is no such check (and nothing to create).
        A finish whose ``rid`` is not the latest start's is paired with that ``rid``'s start."""
        ...

    async def check_pings(
        self, uuid: str, *, limit: int = 50, before_id: int | None = None
    ) -> list[Ping]:
        """A check's pings, newest first."""
        ...

    async def sync_checks(self, wanted: Sequence[Check], now: datetime) -> CheckSyncReport:
        """Make the checks from the configuration (``source`` config) what ``wanted`` says, by
        name: new ones added, changed specs updated (a check of another source with the name
        becomes the configuration's), configuration checks no longer there removed."""
        ...

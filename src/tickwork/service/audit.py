"""The audit log (D3): one way for every use case to record who did what, and reading it."""

from __future__ import annotations

import contextvars
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from tickwork.clock import Clock
from tickwork.domain.access import AuditEntry, AuditQuery, NewAuditEntry, Principal
from tickwork.service.queries import check_aware, check_limit
from tickwork.store.base import Store

# The ID of the request being handled, set by the API's middleware; entries recorded while it
# is handled carry it, whichever use case records them.
current_request_id: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "tickwork_request_id", default=None
)


@dataclass(frozen=True)
class Change:
    """One thing done: ``action`` is ``<target type>.<verb>`` (e.g. ``job.trigger``)."""

    action: str
    target_type: str
    target: str
    before: dict[str, Any] | None = None
    after: dict[str, Any] | None = None


async def record(
    store: Store,
    clock: Clock,
    actor: Principal,
    action: str,
    target_type: str,
    target: str,
    *,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    request_id: str | None = None,
) -> None:
    """Add one entry; ``action`` is ``<target type>.<verb>`` (e.g. ``job.trigger``)."""
    change = Change(action, target_type, target, before, after)
    await store.add_audit(_entry(clock, actor, change, request_id))


async def record_all(
    store: Store,
    clock: Clock,
    actor: Principal,
    changes: Sequence[Change],
    request_id: str | None = None,
) -> None:
    """Add the entries of several changes made together (e.g. by one sync) in one write."""
    if changes:
        await store.add_audits([_entry(clock, actor, c, request_id) for c in changes])


def _entry(clock: Clock, actor: Principal, change: Change, request_id: str | None) -> NewAuditEntry:
    return NewAuditEntry(
        actor=actor.name,
        action=change.action,
        target_type=change.target_type,
        target=change.target,
        at=clock.now(),
        before=change.before,
        after=change.after,
        request_id=request_id or current_request_id.get(),
    )


async def audit_log(store: Store, query: AuditQuery) -> list[AuditEntry]:
    """A page of the audit log (``ConfigError`` for a limit outside 1..1000 or a time
    without a UTC offset)."""
    check_limit(query.limit)
    check_aware(query.since, "since")
    check_aware(query.until, "until")
    return await store.query_audit(query)

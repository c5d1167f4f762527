"""Writing the audit log (D3): one way for every use case to record who did what."""

from __future__ import annotations

import contextvars
from typing import Any

from tickwork.domain.access import NewAuditEntry, Principal
from tickwork.runtime.clock import Clock
from tickwork.store.base import Store

# The ID of the request being handled, set by the API's middleware; entries recorded while it
# is handled carry it, whichever use case records them.
current_request_id: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "tickwork_request_id", default=None
)


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
    await store.add_audit(
        NewAuditEntry(
            actor=actor.name,
            action=action,
            target_type=target_type,
            target=target,
            at=clock.now(),
            before=before,
            after=after,
            request_id=request_id or current_request_id.get(),
        )
    )

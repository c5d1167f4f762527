"""The audit log (``/audit``): who did what to which target, newest first, filtered by actor,
action, target type and target, paged by entry ID; each entry's change as a compact diff."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse

from tickwork.api.deps import service_for
from tickwork.dashboard.web import Looker, render, viewer
from tickwork.domain.access import AuditEntry, Scope
from tickwork.service.queries import AuditQuery

router = APIRouter(include_in_schema=False)

Auditor = Annotated[Looker, Depends(viewer(Scope.AUDIT_READ))]
PAGE = 50
# What audit entries are about; the filter offers these (others can still be typed in a URL).
TARGET_TYPES = ("job", "queue_job", "user", "token", "processor", "config")
# A value longer than this is cut in the diff (the API has the whole entry).
MAX_VALUE = 120
Text = Annotated[str | None, Query(max_length=200)]


@dataclass(frozen=True)
class Change:
    """One field of an entry's before/after: ``old`` or ``new`` is None when absent."""

    key: str
    old: str | None
    new: str | None


@router.get("/audit", response_class=HTMLResponse)
async def audit_log(
    request: Request,
    who: Auditor,
    actor: Text = None,
    action: Text = None,
    target_type: Text = None,
    target: Text = None,
    before: Annotated[int | None, Query(ge=1)] = None,
) -> HTMLResponse:
    filters = {
        "actor": (actor or "").strip(),
        "action": (action or "").strip(),
        "target_type": (target_type or "").strip(),
        "target": (target or "").strip(),
    }
    query = AuditQuery(
        actor=filters["actor"] or None,
        action=filters["action"] or None,
        target_type=filters["target_type"] or None,
        target=filters["target"] or None,
        before_id=before,
        limit=PAGE + 1,  # one more tells whether an older page exists
    )
    entries = await service_for(request, who.principal).audit_log(query)
    shown = entries[:PAGE]
    given = {k: v for k, v in filters.items() if v}
    next_url = _url({**given, "before": str(shown[-1].id)}) if len(entries) > PAGE else None
    return render(
        request,
        "audit.html",
        {
            "entries": [(e, link_of(e), diff(e.before, e.after)) for e in shown],
            "filters": filters,
            "target_types": TARGET_TYPES,
            "next_url": next_url,
            "first_url": _url(given) if before is not None else None,
        },
    )


def _url(params: dict[str, str]) -> str:
    return "/audit?" + urlencode(params) if params else "/audit"


def link_of(entry: AuditEntry) -> str | None:
    """The page of an entry's target, when it has one."""
    if entry.target_type == "job":
        return f"/jobs/{quote(entry.target, safe='')}"
    if entry.target_type == "queue_job" and entry.target.isdigit():
        return f"/queue/{entry.target}"
    return None


def diff(before: dict[str, Any] | None, after: dict[str, Any] | None) -> list[Change]:
    """The fields that differ between ``before`` and ``after`` (each side may be absent: a
    creation has only ``after``), in a stable order."""
    old, new = before or {}, after or {}
    changes = []
    for key in sorted(old.keys() | new.keys()):
        if key in old and key in new and old[key] == new[key]:
            continue
        changes.append(
            Change(
                key,
                _compact(old[key]) if key in old else None,
                _compact(new[key]) if key in new else None,
            )
        )
    return changes


def _compact(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True, default=str)
    return text if len(text) <= MAX_VALUE else text[: MAX_VALUE - 1] + "…"

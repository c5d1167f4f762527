"""Alerts (``/alerts``): every rule of ``[alerts]`` with the states of its subjects, rules
with a firing subject first and firing subjects first within a rule; acknowledge and mute
(a rule or one subject, for a while) for those who may trigger (``service/alerts.py``, audited
as the user); the newest transitions: when, from, to, why, what was sent where."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from tickwork.api.deps import get_context, service_for
from tickwork.dashboard.web import Looker, LookerDep, actor, form_of, redirect, render
from tickwork.domain.access import Scope
from tickwork.domain.alert_states import Status
from tickwork.domain.durations import parse_duration
from tickwork.errors import ConfigError

router = APIRouter(include_in_schema=False)

Triggerer = Annotated[Looker, Depends(actor(Scope.JOBS_TRIGGER))]
# How long a mute from the page lasts (the API and the CLI take any time).
MUTE_FOR = ("1h", "4h", "1d", "7d")
HISTORY = 50


@router.get("/alerts", response_class=HTMLResponse)
async def alerts(
    request: Request,
    who: LookerDep,
    done: Annotated[Literal["ack", "mute", "unmute"] | None, Query()] = None,
) -> HTMLResponse:
    svc = get_context(request).service
    rules = await svc.alerts.rules()
    # Rules with a firing subject first (the order of [alerts] otherwise).
    rules.sort(key=lambda r: not any(s.state.status is Status.FIRING for s in r.subjects))
    history = await svc.alerts.history(limit=HISTORY)
    firing = sum(s.state.status is Status.FIRING for r in rules for s in r.subjects)
    return render(
        request,
        "alerts.html",
        {
            "rules": rules,
            "history": history,
            "firing": firing,
            "mute_for": MUTE_FOR,
            "flash": {
                "ack": "Acknowledged: no reminders until it resolves.",
                "mute": "Muted: nothing is sent meanwhile; what changed is told after.",
                "unmute": "Unmuted.",
            }.get(done or ""),
        },
    )


@router.post("/alerts/ack")
async def acknowledge(request: Request, who: Triggerer) -> RedirectResponse:
    form = await form_of(request)
    await service_for(request, who.principal).alerts.acknowledge(
        _required(form, "rule"), _required(form, "subject")
    )
    return redirect("/alerts?done=ack")


@router.post("/alerts/mute")
async def mute(request: Request, who: Triggerer) -> RedirectResponse:
    form = await form_of(request)
    rule = _required(form, "rule")
    subject = form.get("subject") or None
    length = form.get("for", "")
    svc = service_for(request, who.principal)
    if length == "off":
        await svc.alerts.mute(rule, subject, None)
        return redirect("/alerts?done=unmute")
    if length not in MUTE_FOR:
        raise ConfigError(f"expected one of {', '.join(MUTE_FOR)} or off, got {length[:20]!r}")
    until = svc.clock.now() + _seconds(length)
    await svc.alerts.mute(rule, subject, until)
    return redirect("/alerts?done=mute")


def _seconds(text: str) -> timedelta:
    return timedelta(seconds=parse_duration(text, field="for"))


def _required(form: dict[str, str], name: str) -> str:
    value = form.get(name, "").strip()
    if not value:
        raise ConfigError("required", field=name)
    return value

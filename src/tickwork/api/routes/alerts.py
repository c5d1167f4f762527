"""Alerts (``service/alerts.py``): the rules of ``[alerts]`` with their states, the history of
transitions, acknowledging and muting, and a test notice to a channel. The same shapes as
``tickwork alerts`` (``wire.py``); a channel's settings (its secrets) are never shown."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request
from pydantic import Field

from tickwork.api.deps import Controller, Reader, Triggerer, service_for
from tickwork.api.schemas.common import StrictIn
from tickwork.domain.alert_records import HISTORY_LIMIT
from tickwork.wire_alerts import (
    AlertRuleOut,
    AlertStateOut,
    AlertTransitionOut,
    ChannelTestOut,
    alert_rule_out,
    alert_state_out,
    alert_transition_out,
    channel_test_out,
)

router = APIRouter(prefix="/api/alerts", tags=["alerts"])

RuleName = Annotated[
    str, Path(pattern=r"^[A-Za-z0-9_.:-]{1,100}$", description="The rule's name in [alerts].")
]
ChannelName = Annotated[
    str, Path(pattern=r"^[A-Za-z0-9_.-]{1,64}$", description="The channel's name in [alerts].")
]
Subject = Annotated[
    str,
    Field(
        min_length=1,
        max_length=300,
        description="What the rule watches: task:NAME, processor:ID, channel:NAME or queue.",
    ),
]


class AckIn(StrictIn):
    subject: Subject


class MuteIn(StrictIn):
    subject: Subject | None = Field(default=None, description="One subject; none: the whole rule.")
    until: datetime | None = Field(
        description="The end of the mute, with its UTC offset; null: unmute now."
    )


@router.get("", summary="Alert rules with their states")
async def list_rules(request: Request, principal: Reader) -> list[AlertRuleOut]:
    """Every rule of `[alerts]` with the stored state of each subject it watches (firing
    first), and the mute of the whole rule if any."""
    svc = service_for(request, principal)
    return [alert_rule_out(view) for view in await svc.alerts.rules()]


@router.get("/rules/{name}", summary="One alert rule with its states")
async def get_rule(request: Request, principal: Reader, name: RuleName) -> AlertRuleOut:
    svc = service_for(request, principal)
    [view] = await svc.alerts.rules(name)
    return alert_rule_out(view)


@router.get("/history", summary="Stored alert transitions, newest first")
async def history(
    request: Request,
    principal: Reader,
    rule: Annotated[str | None, Query(max_length=100, description="Only this rule.")] = None,
    subject: Annotated[str | None, Query(max_length=300, description="Only this subject.")] = None,
    before_id: Annotated[
        int | None, Query(ge=1, description="The next page: transitions before this ID.")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=HISTORY_LIMIT)] = 50,
) -> list[AlertTransitionOut]:
    """Every stored change of a rule × subject: when, from, to, why, the notices sent, to
    which channels, and the delivery jobs (whose runs say how each delivery went)."""
    svc = service_for(request, principal)
    found = await svc.alerts.history(rule=rule, subject=subject, before_id=before_id, limit=limit)
    return [alert_transition_out(t) for t in found]


@router.post("/rules/{name}/ack", summary="Acknowledge a firing alert")
async def acknowledge(
    request: Request, principal: Triggerer, name: RuleName, body: AckIn
) -> AlertStateOut:
    """No reminders for it until it resolves (`alert.ack` in the audit log). 409 when the
    subject is not firing."""
    svc = service_for(request, principal)
    state = await svc.alerts.acknowledge(name, body.subject)
    return alert_state_out(name, body.subject, state)


@router.post("/rules/{name}/mute", summary="Mute a rule or one subject until a time")
async def mute(
    request: Request, principal: Triggerer, name: RuleName, body: MuteIn
) -> AlertStateOut:
    """Nothing is sent for it until `until` (`alert.mute`; `until` null: `alert.unmute`);
    what changed meanwhile is told when the mute ends."""
    svc = service_for(request, principal)
    state = await svc.alerts.mute(name, body.subject, body.until)
    return alert_state_out(name, body.subject or "*", state)


@router.post("/channels/{name}/test", summary="Send a test notice to a channel")
async def test_channel(
    request: Request, principal: Controller, name: ChannelName
) -> ChannelTestOut:
    """Sends a test notice now and says whether the channel accepted it, with its error
    otherwise (never the channel's secret). Audited as `alert.test`."""
    svc = service_for(request, principal)
    return channel_test_out(await svc.alerts.test_channel(name))

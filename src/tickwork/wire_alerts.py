"""How both adapters show alert rules with their states, the transitions history and a channel
test (``GET /api/alerts…``, ``tickwork alerts … --json``). Kept beside ``wire.py`` (same layer,
same habits) so that the alerts' shapes do not grow it."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from tickwork.wire import Shape

if TYPE_CHECKING:
    from tickwork.domain.alert_records import TransitionRecord
    from tickwork.domain.alert_states import AlertState
    from tickwork.service.alerts import ChannelTest, RuleStates


class AlertStateOut(Shape):
    rule: str
    subject: str  # task:NAME, processor:ID, channel:NAME, queue; "*": the rule itself
    status: str  # ok | firing
    since: datetime | None  # when the status began
    why: str
    announced: bool  # receivers were last told it is firing
    flapping: bool
    acked_by: str | None
    acked_at: datetime | None
    muted_until: datetime | None
    last_notice_at: datetime | None
    version: int


def alert_state_out(rule: str, subject: str, s: AlertState) -> AlertStateOut:
    return AlertStateOut(
        rule=rule,
        subject=subject,
        status=s.status.value,
        since=s.changed_at,
        why=s.why,
        announced=s.announced,
        flapping=s.flapping,
        acked_by=s.acked_by,
        acked_at=s.acked_at,
        muted_until=s.muted_until,
        last_notice_at=s.last_notice_at,
        version=s.version,
    )


class AlertRuleOut(Shape):
    name: str
    kind: str
    scope: str  # global, task:NAME or tag:NAME
    channels: list[str]  # names only: a channel's settings hold secrets
    realert_seconds: float | None
    maintenance: list[str]
    muted_until: datetime | None  # the whole rule, while muted
    firing: int
    states: list[AlertStateOut]  # firing first


def alert_rule_out(view: RuleStates) -> AlertRuleOut:
    rule = view.rule
    return AlertRuleOut(
        name=rule.name,
        kind=rule.condition.kind,
        scope=str(rule.scope),
        channels=list(rule.channels),
        realert_seconds=rule.realert_seconds,
        maintenance=[str(w) for w in rule.maintenance],
        muted_until=view.muted_until,
        firing=sum(s.state.status.value == "firing" for s in view.subjects),
        states=[alert_state_out(rule.name, s.subject, s.state) for s in view.subjects],
    )


class AlertTransitionOut(Shape):
    id: int
    rule: str
    subject: str
    at: datetime
    from_status: str
    to_status: str
    why: str
    sent: list[str]  # notice kinds: firing, realert, resolved, flapping
    channels: list[str]
    job_ids: list[int]  # the delivery jobs (their runs say how each went)


def alert_transition_out(t: TransitionRecord) -> AlertTransitionOut:
    return AlertTransitionOut(
        id=t.id,
        rule=t.rule,
        subject=t.subject,
        at=t.at,
        from_status=t.from_status.value,
        to_status=t.to_status.value,
        why=t.why,
        sent=[kind.value for kind in t.sent],
        channels=list(t.channels),
        job_ids=list(t.job_ids),
    )


class ChannelTestOut(Shape):
    channel: str
    kind: str  # slack | email | webhook
    delivered: bool
    error: str | None  # why not; never the channel's secret


def channel_test_out(t: ChannelTest) -> ChannelTestOut:
    return ChannelTestOut(channel=t.channel, kind=t.kind, delivered=t.delivered, error=t.error)

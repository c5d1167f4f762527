"""``Alerts``: the rules of ``[alerts]`` with their states, the history of transitions, and an
operator's actions: acknowledge a firing alert, mute a rule or one subject until a time, send
a test notice to a channel. Each action is audited; none shows a channel's secret.

Actions change a state the way the evaluator does: ``alert_states.acknowledge``/``mute`` give
the next version, written by compare-and-set; when an evaluator stored a step meanwhile, the
state is read again and the action applied to it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from tickwork.domain.alert_records import (
    RULE_SUBJECT,
    AlertKey,
    AlertWrite,
    TransitionQuery,
    TransitionRecord,
)
from tickwork.domain.alert_states import (
    AlertState,
    NoticeKind,
    Notification,
    StepResult,
    acknowledge,
    mute,
)
from tickwork.domain.alerts import AlertRule
from tickwork.domain.channels import Channel
from tickwork.errors import ConfigError, ConflictError, NotFoundError
from tickwork.runtime.notify import DeliveryError, Notifier
from tickwork.service.context import Context

# Compare-and-set attempts of an action racing the evaluators.
_ATTEMPTS = 5


@dataclass(frozen=True)
class SubjectState:
    subject: str
    state: AlertState


@dataclass(frozen=True)
class RuleStates:
    """A rule, the mute of the whole rule (an operator's, or the configuration's), and the
    stored states of its subjects (firing ones first)."""

    rule: AlertRule
    muted_until: datetime | None
    subjects: tuple[SubjectState, ...]


@dataclass(frozen=True)
class ChannelTest:
    """What became of a test notice: sent, or the error (which never names a secret)."""

    channel: str
    kind: str
    delivered: bool
    error: str | None = None


class Alerts:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    def rule(self, name: str) -> AlertRule:
        found = self.ctx.alerts.rule(name)
        if found is None:
            raise NotFoundError(f"no alert rule named {name!r} in [alerts]")
        return found

    def channel(self, name: str) -> Channel:
        found = self.ctx.alerts.channels.get(name)
        if found is None:
            raise NotFoundError(f"no alert channel named {name!r} in [alerts.channels]")
        return found

    async def rules(self, rule: str | None = None) -> list[RuleStates]:
        """Every rule (or one), with its stored states."""
        rules = [self.rule(rule)] if rule is not None else list(self.ctx.alerts.rules)
        stored = await self.ctx.store.alert_states([r.name for r in rules])
        views = []
        now = self.ctx.clock.now()
        for r in rules:
            own = stored.get(AlertKey(r.name, RULE_SUBJECT))
            own_mute = None if own is None else own.muted_until
            mutes = [m for m in (r.muted_until, own_mute) if m is not None]
            muted = max(mutes) if mutes else None
            subjects = sorted(
                (
                    SubjectState(key.subject, state)
                    for key, state in stored.items()
                    if key.rule == r.name and key.subject != RULE_SUBJECT
                ),
                key=lambda s: (s.state.status.value != "firing", s.subject),
            )
            views.append(
                RuleStates(r, muted if muted is not None and muted > now else None, tuple(subjects))
            )
        return views

    async def history(
        self,
        *,
        rule: str | None = None,
        subject: str | None = None,
        before_id: int | None = None,
        limit: int = 50,
    ) -> list[TransitionRecord]:
        """Stored transitions, newest first (of one rule, one subject)."""
        if rule is not None:
            self.rule(rule)
        query = TransitionQuery(rule=rule, subject=subject, before_id=before_id, limit=limit)
        return await self.ctx.store.alert_history(query)

    async def acknowledge(self, rule: str, subject: str) -> AlertState:
        """Acknowledge a firing alert: no reminders until it resolves. ``InvalidStateError``
        when it is not firing."""
        self.rule(rule)
        by = self.ctx.actor.name
        state = await self._change(
            AlertKey(rule, subject), lambda s, now: acknowledge(s, now, by), must_exist=True
        )
        await self.ctx.audit(
            "alert.ack", "alert", f"{rule}/{subject}", after={"acked_by": by, "why": state.why}
        )
        return state

    async def mute(self, rule: str, subject: str | None, until: datetime | None) -> AlertState:
        """Mute the rule (``subject`` None) or one subject until ``until`` (None: unmute).
        Whatever changes meanwhile is told when the mute ends."""
        self.rule(rule)
        now = self.ctx.clock.now()
        if until is not None:
            if until.tzinfo is None:
                raise ConfigError("must have a timezone (e.g. 2026-06-01T08:00:00Z)", field="until")
            if until <= now:
                raise ConfigError(f"must be in the future, got {until.isoformat()}", field="until")
        by = self.ctx.actor.name
        key = AlertKey(rule, subject or RULE_SUBJECT)
        state = await self._change(key, lambda s, at: mute(s, at, until, by), must_exist=False)
        await self.ctx.audit(
            "alert.mute" if until is not None else "alert.unmute",
            "alert",
            f"{rule}/{key.subject}",
            after={"muted_until": None if until is None else until.isoformat()},
        )
        return state

    async def test_channel(self, name: str) -> ChannelTest:
        """Send a test notice to the channel now (not as a job: the answer says how it went).
        Audited; the answer and the audit entry name the error, never the channel's secret."""
        channel = self.channel(name)
        now = self.ctx.clock.now()
        notice = Notification(
            kind=NoticeKind.FIRING,
            rule="test",
            subject=f"channel:{name}",
            at=now,
            why=f"A test notice from tickwork, sent by {self.ctx.actor.name}",
        )
        notifier = Notifier(base_url=self.ctx.alerts.base_url, clock=self.ctx.clock)
        result = ChannelTest(name, channel.kind.value, delivered=True)
        try:
            await notifier.send(channel, notice)
        except DeliveryError as exc:
            result = ChannelTest(name, channel.kind.value, delivered=False, error=str(exc))
        finally:
            await notifier.aclose()
        await self.ctx.audit(
            "alert.test",
            "channel",
            name,
            after={"kind": result.kind, "delivered": result.delivered, "error": result.error},
        )
        return result

    async def _change(
        self,
        key: AlertKey,
        change: Callable[[AlertState, datetime], StepResult],
        *,
        must_exist: bool,
    ) -> AlertState:
        store = self.ctx.store
        for _ in range(_ATTEMPTS):
            state = (await store.alert_states([key.rule])).get(key)
            if state is None and must_exist:
                raise NotFoundError(f"no alert state for {key.rule} on {key.subject!r}")
            result = change(state or AlertState(), self.ctx.clock.now())
            assert result.transition is not None
            write = AlertWrite(key, result.state, result.transition)
            [applied] = await store.write_alerts([write], self.ctx.clock.now())
            if applied is not None:
                return result.state
        raise ConflictError(f"the alert {key.rule} on {key.subject!r} keeps changing; try again")

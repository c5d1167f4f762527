"""Notices delivered as jobs of the built-in task ``tickwork.notify``: retried with backoff by
the engine, kept across restarts, shown in history like any job.

A delivery job's arguments are the channel's name and the notice (``notice_json``), never a
secret: the worker's process looks the channel up in its own ``[alerts]`` settings
(``Deliverer``). Each attempt's end is recorded per channel (``Store.record_delivery``), which
the ``channel_failing`` rule reads.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from tickwork.callables import Resolver
from tickwork.clock import Clock, SystemClock
from tickwork.config.alerts import AlertSettings
from tickwork.domain.alert_states import NoticeKind, Notification
from tickwork.domain.channels import Channel
from tickwork.domain.jobs import NewJob, TriggeredBy
from tickwork.domain.tasks import PythonTarget, RetryPolicy, TaskDefinition, TaskSource
from tickwork.errors import Fail, Retry
from tickwork.runtime.notify.senders import DeliveryError, Notifier
from tickwork.store.alerting import AlertStates

log = logging.getLogger("tickwork.alerts")

NOTIFY_TASK = "tickwork.notify"
NOTIFY_PATH = "tickwork.runtime.notify.delivery:deliver"
# 8 retries from 10 s, doubling up to 30 min: a receiver down for about two hours still gets
# the notice.
NOTIFY_RETRY = RetryPolicy(max_retries=8, base_seconds=10.0, factor=2.0, cap_seconds=1800.0)
NOTIFY_TIMEOUT_SECONDS = 60.0
NOTIFY_PRIORITY = 10  # ahead of ordinary jobs: an alert about a backlog must not wait in it


def notify_definition(retry: RetryPolicy = NOTIFY_RETRY) -> TaskDefinition:
    """The built-in task's definition, synced by every process that has ``[alerts]``."""
    return TaskDefinition(
        name=NOTIFY_TASK,
        target=PythonTarget(NOTIFY_PATH),
        timeout_seconds=NOTIFY_TIMEOUT_SECONDS,
        retry=retry,
        priority=NOTIFY_PRIORITY,
        description="Delivers an alert notice to a channel (built in)",
        tags=("tickwork",),
        source=TaskSource.BUILTIN,
    )


def delivery_jobs(
    notification: Notification,
    channels: tuple[str, ...],
    now: datetime,
    definition: TaskDefinition,
) -> list[NewJob]:
    """One delivery job per channel, due now."""
    notice = notice_json(notification)
    return [
        NewJob(
            task_name=definition.name,
            scheduled_at=now,
            triggered_by=TriggeredBy.SCHEDULER,
            max_attempts=definition.max_attempts,
            kwargs={"channel": name, "notice": notice},
            priority=definition.priority,
        )
        for name in channels
    ]


def notice_json(notification: Notification) -> dict[str, Any]:
    """A notice as a job argument (JSON)."""
    n = notification
    return {
        "kind": n.kind.value,
        "rule": n.rule,
        "subject": n.subject,
        "at": n.at.isoformat(),
        "why": n.why,
        "since": None if n.since is None else n.since.isoformat(),
        "lasted_seconds": n.lasted_seconds,
        "details": dict(n.details),
    }


def notice_of(data: Mapping[str, Any]) -> Notification:
    """The notice of a job argument; ``Fail`` if it is not one (retrying cannot fix it)."""
    try:
        since = data.get("since")
        lasted = data.get("lasted_seconds")
        return Notification(
            kind=NoticeKind(data["kind"]),
            rule=str(data["rule"]),
            subject=str(data["subject"]),
            at=datetime.fromisoformat(data["at"]),
            why=str(data.get("why", "")),
            since=None if since is None else datetime.fromisoformat(since),
            lasted_seconds=None if lasted is None else float(lasted),
            details={str(k): str(v) for k, v in dict(data.get("details") or {}).items()},
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise Fail(f"not an alert notice: {type(exc).__name__}: {exc}") from None


async def deliver(channel: str, notice: dict[str, Any]) -> str:
    """The built-in task as named in its definition; a process with ``[alerts]`` channels
    resolves ``NOTIFY_PATH`` to its ``Deliverer`` instead (``Deliverer.resolver``), so this runs
    only in a worker configured without them."""
    raise Fail(f"this worker has no [alerts] channels; cannot deliver to {channel!r}")


class Deliverer:
    """Sends delivery jobs' notices through the process's ``Notifier`` and channels."""

    def __init__(
        self,
        store: AlertStates,
        settings: AlertSettings,
        *,
        clock: Clock | None = None,
        notifier: Notifier | None = None,
    ) -> None:
        self.store = store
        self.settings = settings
        self.clock = clock or SystemClock()
        self.notifier = notifier or Notifier(base_url=settings.base_url, clock=self.clock)

    def resolver(self, base: Resolver) -> Resolver:
        """``base``, with the built-in task's path resolved to this deliverer."""

        def resolve(path: str) -> Any:
            return self.deliver if path == NOTIFY_PATH else base(path)

        return resolve

    async def aclose(self) -> None:
        await self.notifier.aclose()

    async def deliver(self, channel: str, notice: dict[str, Any]) -> str:
        """One attempt: ``Retry`` (after the receiver's Retry-After, if it gave one) when the
        failure may pass, ``Fail`` when it cannot."""
        found = self.settings.channels.get(channel)
        if found is None:
            raise Fail(f"no channel {channel!r} in [alerts.channels]")
        notification = notice_of(notice)
        try:
            await self.send(found, notification)
        except DeliveryError as exc:
            if exc.retryable:
                raise Retry(str(exc), after=exc.retry_after_seconds) from None
            raise Fail(str(exc)) from None
        return f"{notification.kind.value} notice delivered to {channel}"

    async def send(self, channel: Channel, notification: Notification) -> None:
        """Send now and record how it went for the channel; ``DeliveryError`` if it failed."""
        try:
            await self.notifier.send(channel, notification)
        except DeliveryError as exc:
            await self._record(channel.name, str(exc))
            raise
        await self._record(channel.name, None)

    async def _record(self, channel: str, error: str | None) -> None:
        try:
            await self.store.record_delivery(channel, self.clock.now(), error)
        except Exception as exc:  # the delivery's own result matters more
            log.warning("could not record a delivery to %s: %s", channel, exc)

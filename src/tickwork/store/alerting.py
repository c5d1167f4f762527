"""The store's roles for alerts: what an evaluator reads about its subjects (``AlertFacts``),
and the rule × subject states with their transitions and the channels' health
(``AlertStates``). ``store.base`` composes them into ``RuntimeStore`` and ``Store``; the same
contract rules apply (coroutines, aware UTC, atomic)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Protocol

from tickwork.domain.alert_records import (
    AlertKey,
    AlertWrite,
    ChannelHealth,
    TransitionQuery,
    TransitionRecord,
)
from tickwork.domain.alert_states import AlertState
from tickwork.domain.alerts import RunFact


class AlertFacts(Protocol):
    """Facts about many subjects, each kind read in one statement whatever their number."""

    async def alert_runs(self, limits: Mapping[str, int]) -> dict[str, list[RunFact]]:
        """Per task of ``limits``, its newest ``limits[task]`` succeeded, failed or timed-out
        runs (by start), newest first, with the error message of failed ones; tasks without
        such runs are absent."""
        ...

    async def running_since(self, task_names: Sequence[str]) -> dict[str, datetime]:
        """Per task, the ``started_at`` of its longest-running job now running; tasks without
        a running job are absent."""
        ...

    async def latest_batches(self, task_names: Sequence[str]) -> dict[str, tuple[int, int]]:
        """Per task, its latest batch (the jobs created with its newest job, in one enqueue):
        how many of them succeeded and how many failed or timed out. Tasks without jobs are
        absent."""
        ...

    async def late_fires(
        self, task_names: Sequence[str], now: datetime
    ) -> dict[str, tuple[datetime | None, int]]:
        """Per task: the oldest fire due by ``now`` that has not started (a fire's job still
        pending, or a schedule whose ``next_fire_at`` passed without a fire), and how many
        missed fires were recorded for fire times after the task's last run started. Tasks
        with neither are absent."""
        ...

    async def channel_health(self) -> dict[str, ChannelHealth]:
        """Every channel that ever had a delivery attempt, by name."""
        ...


class AlertStates(Protocol):
    """Rule × subject states, changed by compare-and-set, and what became of deliveries."""

    async def alert_states(self, rules: Sequence[str] | None = None) -> dict[AlertKey, AlertState]:
        """The stored states (of ``rules`` if given); a key never stored is absent (its state
        is ``AlertState()``, version 0)."""
        ...

    async def write_alerts(
        self, writes: Sequence[AlertWrite], now: datetime
    ) -> list[list[int] | None]:
        """Store each write whose expected version (``transition.expected_version``; 0: no row)
        is the stored one, with its transition and delivery jobs, in one transaction: per
        write, in order, the IDs of the jobs created, or None when it was stale (another
        writer stored a step of that key first; nothing of it is written). Under concurrent
        writers of one key, exactly one write of each version applies."""
        ...

    async def alert_history(self, query: TransitionQuery) -> list[TransitionRecord]:
        """A page of stored transitions, newest first (by ID)."""
        ...

    async def record_delivery(self, channel: str, now: datetime, error: str | None) -> None:
        """A delivery attempt to ``channel`` ended at ``now``: a success (``error`` None)
        resets its failures in a row, a failure adds one and keeps ``error``."""
        ...

    async def notify_alerts(self) -> None:
        """Wake the alert evaluators of every process soon (a heartbeat check went down or
        came back): on PostgreSQL a ``NOTIFY`` their ``watch`` hands to ``on_alerts``; SQLite
        has nothing to carry it, so other processes' evaluators see it on their tick."""
        ...


class Alerting(AlertFacts, AlertStates, Protocol):
    """Everything an alert evaluator needs of the store besides the runtime's reads."""

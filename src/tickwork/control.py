"""Cluster-wide run-time control (E2): pause and resume processing, change batch size,
concurrency and the default timeout while workers run. Workers read it with their heartbeat."""

from __future__ import annotations

from tickwork.domain.access import Principal
from tickwork.runtime.clock import Clock, SystemClock
from tickwork.store.base import ControlState, Store


class Control:
    def __init__(self, store: Store, *, clock: Clock | None = None) -> None:
        self.store = store
        self.clock = clock or SystemClock()

    async def get(self) -> ControlState:
        raise NotImplementedError

    async def pause(self, *, actor: Principal) -> ControlState:
        """Workers stop claiming (running jobs finish); audited."""
        raise NotImplementedError

    async def resume(self, *, actor: Principal) -> ControlState:
        raise NotImplementedError

    async def configure(
        self,
        *,
        batch_size: int | None = None,
        max_concurrent_jobs: int | None = None,
        default_timeout_seconds: float | None = None,
        clear: frozenset[str] = frozenset(),
        actor: Principal,
    ) -> ControlState:
        """Set the given fields (validated: batch 1..1000, concurrency 1..10000, timeout > 0),
        reset those named in ``clear`` to the processes' own settings; audited."""
        raise NotImplementedError

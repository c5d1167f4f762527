"""Cluster-wide run-time control (E2): pause and resume processing, change batch size,
concurrency and the default timeout while workers run. Workers read it with their heartbeat."""

from __future__ import annotations

import dataclasses
import math
from typing import Any

from tickwork.domain.access import Principal
from tickwork.errors import ConfigError
from tickwork.service import audit
from tickwork.service.context import Context
from tickwork.service.queries import ControlState

MAX_BATCH_SIZE = 1000
MAX_CONCURRENT_JOBS = 10000
# The fields ``configure`` sets or clears (``paused`` has its own verbs).
SETTINGS = ("batch_size", "max_concurrent_jobs", "default_timeout_seconds")


class Control:
    def __init__(self, ctx: Context) -> None:
        self.store = ctx.store
        self.clock = ctx.clock

    async def get(self) -> ControlState:
        return await self.store.get_control()

    async def pause(self, *, actor: Principal) -> ControlState:
        """Workers stop claiming (running jobs finish); audited."""
        return await self._set_paused(True, "processor.pause", actor)

    async def resume(self, *, actor: Principal) -> ControlState:
        return await self._set_paused(False, "processor.resume", actor)

    async def _set_paused(self, paused: bool, action: str, actor: Principal) -> ControlState:
        old = await self.store.get_control()
        if old.paused == paused:
            return old  # already so: nothing to write or audit
        new = await self._write(dataclasses.replace(old, paused=paused), actor)
        await self._audit(actor, action, "processor", {"paused": old.paused}, {"paused": paused})
        return new

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
        unknown = sorted(set(clear) - set(SETTINGS))
        if unknown:
            raise ConfigError(
                f"cannot clear {', '.join(map(repr, unknown))}; settings are {', '.join(SETTINGS)}",
                field="clear",
            )
        given = {
            "batch_size": batch_size,
            "max_concurrent_jobs": max_concurrent_jobs,
            "default_timeout_seconds": default_timeout_seconds,
        }
        both = sorted(name for name in clear if given[name] is not None)
        if both:
            raise ConfigError("given a value and asked to clear it", field=both[0])
        if batch_size is not None:
            _check_int("batch_size", batch_size, MAX_BATCH_SIZE)
        if max_concurrent_jobs is not None:
            _check_int("max_concurrent_jobs", max_concurrent_jobs, MAX_CONCURRENT_JOBS)
        if default_timeout_seconds is not None:
            _check_timeout(default_timeout_seconds)
        changes: dict[str, Any] = {k: v for k, v in given.items() if v is not None}
        changes.update(dict.fromkeys(clear))
        old = await self.store.get_control()
        before = {k: getattr(old, k) for k in changes if getattr(old, k) != changes[k]}
        after = {k: changes[k] for k in before}
        if not after:
            return old
        new = await self._write(dataclasses.replace(old, **after), actor)
        await self._audit(actor, "config.update", "config", before, after)
        return new

    async def _write(self, state: ControlState, actor: Principal) -> ControlState:
        state = dataclasses.replace(state, updated_at=self.clock.now(), updated_by=actor.name)
        return await self.store.set_control(state)

    async def _audit(
        self,
        actor: Principal,
        action: str,
        target_type: str,
        before: dict[str, Any],
        after: dict[str, Any],
    ) -> None:
        await audit.record(
            self.store,
            self.clock,
            actor,
            action,
            target_type,
            "cluster",
            before=before,
            after=after,
        )


def _check_int(name: str, value: int, maximum: int) -> None:
    # bool is an int in Python; `true` as a batch size is a mistake, not 1.
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= maximum:
        raise ConfigError(f"must be a whole number from 1 to {maximum}, got {value!r}", field=name)


def _check_timeout(value: float) -> None:
    number = isinstance(value, int | float) and not isinstance(value, bool)
    if not number or not math.isfinite(value) or value <= 0:
        raise ConfigError(
            f"must be a number of seconds > 0, got {value!r}", field="default_timeout_seconds"
        )

"""The store's role for auto-rescheduling (``AutoScheduling``); its SQL is ``store/overrides.py``.
``store.base`` composes it into ``RuntimeStore``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from tickwork.domain.autoschedule import Override, OverrideWrite
from tickwork.store.observing import PruneLock


class AutoScheduling(Protocol):
    """What an auto-rescheduling pass needs besides the runtime's reads (its runs come from
    ``AlertFacts.alert_runs``: the same newest runs, interrupted ones left out)."""

    async def lock_autoschedule(self) -> PruneLock | None:
        """The right to run a pass, or None while another holds it: one per process, and on
        PostgreSQL one across processes (a session advisory lock), held until ``release``."""
        ...

    async def auto_overrides(self, task_names: Sequence[str]) -> dict[str, Override]:
        """The override of each task of ``task_names`` that has one (others absent), in one
        statement."""
        ...

    async def job_states(self, job_ids: Sequence[int]) -> dict[int, str]:
        """The state of each job of ``job_ids`` that still exists."""
        ...

    async def write_overrides(self, writes: Sequence[OverrideWrite]) -> list[bool]:
        """Each write whose task is not removed and whose stored override is still the
        expected one (by ``changed_at``): the override and the next fire time set and the
        audit entry added, all in one transaction. Per write, whether it applied."""
        ...

"""The store's roles for backfills: releasing the next job of each ``queue`` backfill (the
scheduler's, ``BackfillRelease``) and backfills with their jobs for the use cases
(``Backfills``). ``store.base`` composes them into ``RuntimeStore`` and ``Store``; the same
contract rules apply (coroutines, aware UTC, atomic)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

from tickwork.domain.backfills import Backfill, NewBackfill
from tickwork.domain.jobs import NewJob


class BackfillRelease(Protocol):
    async def release_backfills(self, now: datetime) -> int:
        """For each open ``queue`` backfill with no job pending on its own (due, running,
        retrying), make its earliest held job (``HELD_UNTIL``) due ``now``; a backfill with
        none left held is closed. The number of jobs released. Cheap when no backfill is
        open (one read)."""
        ...


class Backfills(BackfillRelease, Protocol):
    async def create_backfill(
        self, backfill: NewBackfill, new_jobs: Sequence[NewJob], now: datetime
    ) -> tuple[Backfill | None, list[int]]:
        """Record the backfill and create its jobs (each given job gets its ID), each
        (task, fire_at) pair once: a fire that already has a job is left as it is. With
        overlap ``queue`` the jobs are given held and the first one is released at once. The
        backfill as stored and the IDs of the jobs created, ascending; when no job was created
        nothing is recorded (None)."""
        ...

    async def present_fires(self, task_name: str, fires: Sequence[datetime]) -> int:
        """How many of these fires of the task already have a job."""
        ...

    async def get_backfill(self, backfill_id: int) -> Backfill | None:
        """The backfill with its jobs counted by state."""
        ...

    async def list_backfills(self, task_name: str | None, limit: int) -> list[Backfill]:
        """The newest ``limit`` backfills (of one task, or all), newest first, counted."""
        ...

    async def cancel_backfill(
        self, backfill_id: int, now: datetime, by: str | None, reason: str
    ) -> tuple[Backfill, int] | None:
        """Mark it cancelled and cancel its pending jobs (``reason``); running ones are left to
        finish. The backfill after it and the number of jobs cancelled; None if there is no
        such backfill. A cancelled backfill stays as it is (0 jobs)."""
        ...

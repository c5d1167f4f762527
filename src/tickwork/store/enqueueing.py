"""The enqueue rule of unique keys and deadlines, for every dialect (see ``Store.enqueue``).

A keyed job goes to the job that holds its key: an active one, else (with a window) the latest
that finished within it; otherwise it is created. Jobs created with a deadline get their
watchdog. How rows are inserted and how races are settled is the dialect's (SQLite holds the
write lock; PostgreSQL's unique index decides).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

from tickwork.domain.jobs import NewJob

# The job holding a key: an active one (the partial unique index allows one) ...
ACTIVE_HOLDER_SQL = (
    "SELECT id FROM tickwork_jobs WHERE unique_key = :key"
    " AND state IN ('scheduled', 'available', 'retrying', 'running')"
)
# ... else, within a ``unique_for_seconds`` window, the latest one that finished in it.
RECENT_HOLDER_SQL = (
    "SELECT id FROM tickwork_jobs WHERE unique_key = :key AND finished_at >= :since"
    " ORDER BY finished_at DESC, id DESC LIMIT 1"
)

# (SQL, its parameters) -> the first row's ID, or None.
FirstId = Callable[[str, dict[str, Any]], int | None]


def plain(new_jobs: Sequence[NewJob]) -> bool:
    """Jobs without unique keys or deadlines: no rule applies, one statement inserts them."""
    return not any(j.unique_key is not None or j.deadline_job is not None for j in new_jobs)


def key_holder(first_id: FirstId, job: NewJob, now: datetime) -> int | None:
    """The ID of the job that holds ``job.unique_key`` now, or None."""
    params: dict[str, Any] = {"key": job.unique_key}
    found = first_id(ACTIVE_HOLDER_SQL, params)
    if found is None and job.unique_for_seconds is not None:
        params["since"] = now - timedelta(seconds=job.unique_for_seconds)
        found = first_id(RECENT_HOLDER_SQL, params)
    return found


def enqueue_with_rules(
    new_jobs: Sequence[NewJob],
    now: datetime,
    *,
    first_id: FirstId,
    insert: Callable[[list[NewJob]], list[int]],
    insert_keyed: Callable[[NewJob], int | None],
) -> tuple[list[int], bool]:
    """IDs in order (one per given job) and whether any job was created.

    ``insert`` creates jobs without a key to check (runs of them in one call, in order);
    ``insert_keyed`` creates a keyed job, or returns None when a concurrent transaction took its
    key meanwhile (then the holder is looked up again: it may even have finished by now, and the
    window decides). Two jobs of one call with the same key make one job. The watchdogs of the
    jobs created come last; their IDs are not returned.
    """
    ids: list[int] = []
    created: list[tuple[NewJob, int]] = []
    run: list[NewJob] = []
    taken: dict[str, int] = {}  # keys given to a job of this call

    def flush() -> None:
        if run:
            run_ids = insert(run)
            ids.extend(run_ids)
            created.extend(zip(run, run_ids, strict=True))
            run.clear()

    for j in new_jobs:
        key = j.unique_key if j.skip_reason is None else None
        if key is None:
            run.append(j)
            continue
        flush()
        while True:
            holder = taken.get(key)
            if holder is None:
                holder = key_holder(first_id, j, now)
            if holder is not None:
                ids.append(holder)
                break
            new_id = insert_keyed(j)
            if new_id is not None:
                ids.append(new_id)
                created.append((j, new_id))
                taken[key] = new_id
                break
    flush()
    watchdogs = [w for j, job_id in created if (w := j.watchdog(job_id)) is not None]
    if watchdogs:
        insert(watchdogs)
    return ids, bool(created)

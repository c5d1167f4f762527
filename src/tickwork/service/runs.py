"""The use cases of runs (the record of each attempt): a task's history, paged and sorted
queries, one run, the runs of one job."""

from __future__ import annotations

from collections.abc import Sequence

from tickwork.domain.jobs import Run, RunMark
from tickwork.errors import ConfigError, NotFoundError
from tickwork.service.context import Context
from tickwork.service.definitions import task_named
from tickwork.service.queries import RUN_SORTS, RunQuery, check_aware, check_limit

# A chart of a task's recent runs draws at most this many; a list page asks for one page.
MAX_RECENT_PER_TASK = 200
MAX_RECENT_TASKS = 1000


class Runs:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    async def history(self, name: str, *, limit: int = 20) -> list[Run]:
        await task_named(self.ctx, name)
        return await self.ctx.store.query_runs(RunQuery(task_name=name, sort="id", limit=limit))

    async def query(self, query: RunQuery) -> list[Run]:
        """``ConfigError`` for an unknown sort, a limit outside 1..1000, a naive time."""
        if query.sort not in RUN_SORTS:
            raise ConfigError(
                f"unknown sort {query.sort!r} (use {', '.join(RUN_SORTS)})", field="sort"
            )
        check_limit(query.limit)
        if query.offset < 0:
            raise ConfigError(f"must be >= 0, got {query.offset}", field="offset")
        check_aware(query.started_from, "started_from")
        check_aware(query.started_to, "started_to")
        return await self.ctx.store.query_runs(query)

    async def recent(self, task_names: Sequence[str], per_task: int) -> dict[str, list[RunMark]]:
        """The newest ``per_task`` runs of each task (newest first; unknown names map to
        empty lists), in one read: what a page of sparklines draws."""
        if not 1 <= per_task <= MAX_RECENT_PER_TASK:
            raise ConfigError(
                f"must be from 1 to {MAX_RECENT_PER_TASK}, got {per_task}", field="per_task"
            )
        if len(task_names) > MAX_RECENT_TASKS:
            raise ConfigError(
                f"at most {MAX_RECENT_TASKS} tasks at once, got {len(task_names)}", field="task"
            )
        return await self.ctx.store.recent_runs(task_names, per_task)

    async def get(self, run_id: int) -> Run:
        run = await self.ctx.store.get_run(run_id)
        if run is None:
            raise NotFoundError(f"no run with ID {run_id}")
        return run

    async def of_job(self, job_id: int) -> list[Run]:
        return await self.ctx.store.query_runs(RunQuery(job_id=job_id, sort="id", limit=1000))

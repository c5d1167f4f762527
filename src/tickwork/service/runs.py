"""The use cases of runs (the record of each attempt): a task's history, paged and sorted
queries, one run, the runs of one job."""

from __future__ import annotations

from tickwork.domain.jobs import Run
from tickwork.errors import ConfigError, NotFoundError
from tickwork.service.context import Context
from tickwork.service.definitions import task_named
from tickwork.service.queries import RUN_SORTS, RunQuery, check_aware, check_limit


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

    async def get(self, run_id: int) -> Run:
        run = await self.ctx.store.get_run(run_id)
        if run is None:
            raise NotFoundError(f"no run with ID {run_id}")
        return run

    async def of_job(self, job_id: int) -> list[Run]:
        return await self.ctx.store.query_runs(RunQuery(job_id=job_id, sort="id", limit=1000))

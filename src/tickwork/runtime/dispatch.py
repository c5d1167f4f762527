"""Routes one attempt of a job to the executor of its task's kind."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tickwork.domain.jobs import Job, Outcome
from tickwork.domain.tasks import HttpTarget, PythonTarget, ShellTarget, TaskDefinition
from tickwork.runtime.executors.python import PythonExecutor
from tickwork.runtime.executors.shell import run_shell

if TYPE_CHECKING:
    from tickwork.runtime.executors.http import HttpExecutor


class Dispatcher:
    """Owns the executors of one process and picks the right one per task.

    The HTTP executor (httpx, a TLS context, a connection pool) is made on the first HTTP job,
    so processes that never run one do not pay for it at start-up.
    """

    def __init__(
        self, python: PythonExecutor, http: HttpExecutor | None = None, *, output_limit: int
    ) -> None:
        self.python = python
        self._http = http
        self.output_limit = output_limit

    @property
    def http(self) -> HttpExecutor:
        if self._http is None:
            from tickwork.runtime.executors.http import HttpExecutor

            self._http = HttpExecutor(output_limit=self.output_limit)
        return self._http

    async def run(self, task: TaskDefinition, job: Job) -> Outcome:
        target = task.target
        timeout = task.timeout_seconds
        if isinstance(target, PythonTarget):
            return await self.python.run(
                target, job.args, job.kwargs, timeout, isolated=task.policies.isolated
            )
        if isinstance(target, ShellTarget):
            return await run_shell(target, timeout, output_limit=self.output_limit)
        assert isinstance(target, HttpTarget)
        return await self.http.run(target, timeout)

    async def aclose(self) -> None:
        self.python.close()
        if self._http is not None:
            await self._http.aclose()

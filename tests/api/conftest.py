"""A real API server per test: uvicorn on 127.0.0.1 (a free port) over a migrated store,
and helpers to make users and tokens through the real use cases."""

from __future__ import annotations

import contextlib
import socket
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from tickwork.api.app import create_app
from tickwork.api.deps import ApiContext
from tickwork.api.server import ApiServer
from tickwork.clock import FakeClock
from tickwork.config.api import ApiSettings
from tickwork.domain.access import LOCAL, ROLE_SCOPES, Role, Scope
from tickwork.domain.jobs import Completion, JobState, NewJob, Outcome, RunStatus, TriggeredBy
from tickwork.service.context import Context
from tickwork.store import SqlStore, create_store

# Tests that do not test the rate limit must not trip it.
TEST_SETTINGS = ApiSettings(host="127.0.0.1", port=0, rate_limit=None)
# Generous: a loaded machine answers late, and a late answer is not a wrong one.
CLIENT_TIMEOUT = 60


@dataclass
class Api:
    """A running API and what tests need around it."""

    server: ApiServer
    ctx: ApiContext
    client: httpx.AsyncClient  # no credentials
    clock: FakeClock

    @property
    def store(self) -> SqlStore:
        store = self.ctx.service.store
        assert isinstance(store, SqlStore)
        return store

    @property
    def url(self) -> str:
        return self.server.url

    def as_token(self, token: str) -> httpx.AsyncClient:
        """A client that sends ``token`` (closed with the fixture's client's transport)."""
        return httpx.AsyncClient(
            base_url=self.url, headers={"Authorization": f"Bearer {token}"}, timeout=CLIENT_TIMEOUT
        )

    async def user(self, name: str, role: Role) -> None:
        await self.ctx.accounts.create_user(name, role, None, actor=LOCAL)

    async def token(
        self,
        role: Role = Role.ADMIN,
        scopes: frozenset[Scope] | None = None,
        *,
        user: str | None = None,
        expires_at: datetime | None = None,
    ) -> str:
        """A token of a user of ``role`` (created if needed) with ``scopes`` (default: all of
        the role's)."""
        name = user or f"user-{role.value}"
        if name not in {u.name for u in await self.ctx.accounts.list_users()}:
            await self.user(name, role)
        wanted = scopes if scopes is not None else ROLE_SCOPES[role]
        _, secret = await self.ctx.accounts.create_token(
            name, f"t{len(wanted)}", wanted, expires_at, actor=LOCAL
        )
        return secret


@contextlib.asynccontextmanager
async def running_api(
    url: str,
    settings: ApiSettings = TEST_SETTINGS,
    *,
    notify: Callable[[], None] | None = None,
    factory: Callable[[ApiContext], FastAPI] = create_app,
) -> AsyncIterator[Api]:
    """An API on a free port of 127.0.0.1 over the migrated database at ``url`` (``factory``:
    the app to serve, e.g. the dashboard's, which has the API in it)."""
    store = create_store(url)
    await store.open()
    clock = FakeClock(datetime.now(UTC))
    core = Context(store, clock=clock, api_job_kinds=settings.job_kinds, on_enqueue=notify)
    ctx = ApiContext.build(core, settings)
    server = ApiServer(factory(ctx), settings.host, settings.port)
    await server.start()
    client = httpx.AsyncClient(base_url=server.url, timeout=CLIENT_TIMEOUT)
    try:
        yield Api(server=server, ctx=ctx, client=client, clock=clock)
    finally:
        await client.aclose()
        if ctx.events is not None:
            await ctx.events.close()
        await server.stop()
        await store.close()


@pytest.fixture
async def api(sqlite_url: str) -> AsyncIterator[Api]:
    """The API over a fresh SQLite file."""
    async with running_api(sqlite_url) as running:
        yield running


@pytest.fixture
async def api_any(db_url: str) -> AsyncIterator[Api]:
    """The API over a fresh database of each backend (SQLite, and PostgreSQL when set)."""
    async with running_api(db_url) as running:
        yield running


@pytest.fixture
async def admin(api: Api) -> AsyncIterator[httpx.AsyncClient]:
    """A client with an admin token (so the API is no longer in local mode)."""
    async with api.as_token(await api.token(Role.ADMIN)) as client:
        yield client


def free_port() -> int:
    """A port free on 127.0.0.1 now (for servers in other processes)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def error_of(response: httpx.Response) -> dict[str, Any]:
    """The ``error`` object of an error response (and a check that it has one)."""
    body = response.json()
    assert set(body) == {"error"}, body
    error: dict[str, Any] = body["error"]
    assert error["code"] and error["message"], error
    return error


HTTP_JOB = {
    "name": "ping",
    "schedule": "*/5 * * * *",
    "http": {"url": "http://127.0.0.1:9/health"},
}


async def define(api: Api, *names: str) -> None:
    """HTTP job definitions (the kind the API may define), made through the use case."""
    for name in names:
        await api.ctx.service.create_task({**HTTP_JOB, "name": name})


async def add_run(
    api: Api,
    task: str,
    status: RunStatus = RunStatus.SUCCEEDED,
    *,
    seconds: float = 1.0,
    output: str | None = None,
    at: datetime | None = None,
) -> int:
    """A finished run of ``task`` recorded through the store as a worker would: enqueue,
    claim, complete. Returns the job's ID."""
    now = at or api.clock.now()
    (job_id,) = await api.store.enqueue([NewJob(task, now, TriggeredBy.API)], now)
    (job,) = await api.store.claim("test-worker", 1, now, 60)
    assert job.id == job_id
    if status is RunStatus.SUCCEEDED:
        outcome = Outcome.success(output=output, metrics={"processed": 3})
        state = JobState.SUCCEEDED
    else:
        outcome = Outcome.failure("Boom", "it broke", traceback="Traceback: boom", output=output)
        state = JobState.FAILED
    finished = now + timedelta(seconds=seconds)
    await api.store.complete(
        [
            Completion(
                job_id=job_id,
                task_name=task,
                attempt=job.attempt,
                triggered_by=TriggeredBy.API,
                worker_id="test-worker",
                started_at=now,
                finished_at=finished,
                outcome=outcome,
                next_state=state,
            )
        ]
    )
    return job_id

"""The composition root: what it builds for a process, a command and a producer, and that
each edge gets one context whose parts are wired to each other."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest

from tickwork.api.deps import ApiContext
from tickwork.api.server import ApiServer
from tickwork.config import Settings
from tickwork.config.api import ApiSettings
from tickwork.domain.access import Principal
from tickwork.domain.jobs import JobState
from tickwork.domain.tasks import PythonTarget, TaskDefinition, TaskSource
from tickwork.errors import SchemaError
from tickwork.launcher import command_context, producer_context, schema_revisions, serve
from tickwork.runtime.processor import Processor
from tickwork.service.events import EventFeed
from tickwork.service.facade import Service
from tickwork.service.jobs import EnqueueRequest

ADD = TaskDefinition(
    name="add", target=PythonTarget("tests.runtime.jobs_for_tests:add"), args=(1, 2)
)
CLI = Principal(name="cli:tester", scopes=frozenset())


async def test_a_process_wires_one_context_to_its_processor_and_its_api(sqlite_url: str) -> None:
    settings = Settings(database_url=sqlite_url, poll_interval_seconds=30.0)
    stop = asyncio.Event()
    started: list[tuple[Processor, Service]] = []
    servers: list[ApiServer] = []
    serving = asyncio.create_task(
        serve(
            settings,
            [ADD],
            [TaskSource.CODE],
            stop=stop,
            on_started=lambda p, s: started.append((p, s)),
            api=ApiSettings(host="127.0.0.1", port=0, rate_limit=None),
            on_api_started=servers.append,
        )
    )
    try:
        async with asyncio.timeout(10):
            while not servers:
                await asyncio.sleep(0.02)
        (processor, service), (server,) = started[0], servers
        api: ApiContext = server.app.state.ctx  # type: ignore[attr-defined]
        # One context: the API's use cases share the process's store, hooks and actor.
        assert api.service.ctx is service.ctx
        assert service.ctx.on_enqueue == processor.notify_work
        assert service.ctx.actor.name == f"processor:{processor.settings.processor_id}"
        # One feed per process, built by the composition root.
        assert isinstance(api.events, EventFeed) and not api.events.polling
        # An enqueue wakes the local worker at once (its poll interval is 30 s).
        job_id = await service.enqueue(EnqueueRequest("add"))
        async with asyncio.timeout(10):
            while (await service.get_job(job_id)).state is not JobState.SUCCEEDED:
                await asyncio.sleep(0.02)
        async with httpx.AsyncClient(base_url=server.url) as client:
            assert (await client.get("/health")).status_code == 200
    finally:
        stop.set()
        await serving
    assert api.events is not None and not api.events.polling


async def test_a_command_opens_only_an_existing_database(tmp_path: Path, sqlite_url: str) -> None:
    missing = Settings(database_url=f"sqlite:///{tmp_path / 'typo.db'}")
    with pytest.raises(SchemaError):
        async with command_context(missing, CLI):
            pass
    assert not (tmp_path / "typo.db").exists()
    async with command_context(Settings(database_url=sqlite_url), CLI) as ctx:
        assert ctx.actor == CLI
        await Service(ctx).sync_definitions([ADD], [TaskSource.CODE])
    current, newest = schema_revisions(Settings(database_url=sqlite_url))
    assert current == newest


async def test_a_producer_prepares_its_embedded_database(tmp_path: Path) -> None:
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'new.db'}")
    resolved: list[str] = []

    def resolve(path: str) -> object:
        resolved.append(path)
        raise AssertionError("a producer registers without importing task code")

    ctx = await producer_context(settings, resolve, CLI)  # type: ignore[arg-type]
    try:
        assert (tmp_path / "new.db").exists()
        service = Service(ctx)
        assert await service.register_missing([ADD]) == ["add"]
        assert (await service.get_task("add")).definition.source is TaskSource.CODE
    finally:
        await ctx.store.close()

"""``GET /api/events``: a real client streams from a real server while a real worker runs jobs."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import AsyncIterator

import httpx

from tests.api.conftest import Api, error_of
from tests.api.sse import Frame, SseReader
from tickwork.domain.access import LOCAL, Role, Scope
from tickwork.domain.jobs import TERMINAL_STATES
from tickwork.domain.processors import ROLE_WORKER
from tickwork.domain.tasks import PythonTarget, TaskDefinition, TaskSource
from tickwork.runtime.processor import Processor, ProcessorSettings
from tickwork.store import create_store

SLEEPY = TaskDefinition(
    name="sleepy",
    target=PythonTarget("tests.runtime.jobs_for_tests:sleepy"),
    kwargs={"seconds": 0.3},
)


def quick(api: Api) -> None:
    """Poll often and send heartbeats often, so the tests wait fractions of a second."""
    assert api.ctx.events is not None
    api.ctx.events.poll_seconds = 0.05
    api.ctx.event_heartbeat_seconds = 0.2


def database_url(api: Api) -> str:
    return api.store.engine.url.render_as_string(hide_password=False)


@contextlib.asynccontextmanager
async def worker(api: Api) -> AsyncIterator[Processor]:
    """A worker over its own store on the same database (as another process would be)."""
    store = create_store(database_url(api))
    await store.open()
    settings = ProcessorSettings(roles=frozenset({ROLE_WORKER}), poll_interval_seconds=0.05)
    processor = Processor(store, settings)
    await processor.start()
    try:
        yield processor
    finally:
        await processor.stop()
        await store.close()


async def define(api: Api) -> None:
    await api.ctx.service.sync_definitions([SLEEPY], [TaskSource.CODE])


def connected(frame: Frame) -> bool:
    return frame.comment is not None and frame.comment.startswith("connected")


def finished_of(job_id: int) -> object:
    return lambda f: f.event == "run.finished" and f.payload["data"]["job_id"] == job_id


async def finished_job(api: Api, job_id: int) -> None:
    """Wait (bounded) until the job has ended, as seen by the store."""
    for _ in range(400):
        if (await api.ctx.service.get_job(job_id)).state in TERMINAL_STATES:
            return
        await asyncio.sleep(0.025)
    raise AssertionError(f"job {job_id} did not finish")


async def test_a_triggered_run_streams_created_started_and_finished(api_any: Api) -> None:
    api = api_any
    quick(api)
    await define(api)
    reader = await api.token(Role.READ_ONLY)
    operator = await api.token(Role.OPERATOR)
    async with (
        api.as_token(reader) as listener,
        api.as_token(operator) as op,
        worker(api),
        listener.stream("GET", "/api/events") as response,
    ):
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        sse = SseReader(response)
        await sse.until(connected)
        triggered = await op.post("/api/jobs/sleepy/trigger")
        assert triggered.status_code == 202, triggered.text
        job_id = triggered.json()["job_id"]
        finished = await sse.until(finished_of(job_id))  # type: ignore[arg-type]

    mine = [f for f in sse.events() if f.payload["data"].get("job_id") == job_id]
    kinds = [f.event for f in mine]
    assert kinds == ["job.created", "run.started", "run.finished"], kinds
    data = finished.payload["data"]
    assert finished.payload["type"] == "run.finished"
    assert data["task"] == "sleepy" and data["status"] == "succeeded" and data["attempt"] == 1
    assert data["duration_seconds"] >= 0.3
    started = mine[1].payload
    assert started["data"]["task"] == "sleepy" and started["data"]["attempt"] == 1
    # Every event carries its position; positions only move forward.
    ids = [tuple(int(x) for x in f.id.split("-")) for f in sse.events() if f.id]
    assert all(all(a <= b for a, b in zip(x, y, strict=True)) for x, y in itertools.pairwise(ids))


async def test_a_caller_without_jobs_read_gets_no_job_events(api: Api) -> None:
    quick(api)
    await define(api)
    admin = await api.token(Role.ADMIN)
    auditor = await api.token(Role.READ_ONLY, frozenset({Scope.AUDIT_READ}), user="auditor")
    async with (
        api.as_token(admin) as admin_client,
        api.as_token(auditor) as auditor_client,
        worker(api),
        admin_client.stream("GET", "/api/events") as admin_response,
        auditor_client.stream("GET", "/api/events") as auditor_response,
    ):
        assert auditor_response.status_code == 200  # any valid credentials may listen
        seen, unseen = SseReader(admin_response), SseReader(auditor_response)
        await seen.until(connected)
        await unseen.until(connected)
        job_id = (await admin_client.post("/api/jobs/sleepy/trigger")).json()["job_id"]
        finished = await seen.until(finished_of(job_id))  # type: ignore[arg-type]
        run_id = finished.payload["data"]["run_id"]
        # A heartbeat says "you have everything up to here": wait for one past the run.
        await unseen.until(
            lambda f: (
                f.comment is not None
                and f.comment.startswith("heartbeat")
                and f.cursor_runs >= run_id
            )
        )
    assert {f.event for f in seen.events()} >= {"job.created", "run.started", "run.finished"}
    assert unseen.events() == []


async def test_a_client_resumes_with_last_event_id(api: Api) -> None:
    quick(api)
    await define(api)
    token = await api.token(Role.OPERATOR)
    async with api.as_token(token) as client, worker(api):
        async with client.stream("GET", "/api/events") as response:
            sse = SseReader(response)
            await sse.until(connected)
            first = (await client.post("/api/jobs/sleepy/trigger")).json()["job_id"]
            last = await sse.until(finished_of(first))  # type: ignore[arg-type]
        assert api.ctx.events is not None
        # Disconnected: the next job is created and runs while nobody listens.
        second = (await client.post("/api/jobs/sleepy/trigger")).json()["job_id"]
        await finished_job(api, second)
        headers = {"Last-Event-ID": last.id or ""}
        async with client.stream("GET", "/api/events", headers=headers) as response:
            resumed = SseReader(response)
            await resumed.until(finished_of(second))  # type: ignore[arg-type]
    replayed = [(f.event, f.payload["data"]["job_id"]) for f in resumed.events()]
    assert ("job.created", second) in replayed
    assert all(job != first for _, job in replayed), replayed


async def test_a_malformed_last_event_id_is_refused(admin: httpx.AsyncClient) -> None:
    response = await admin.get("/api/events", headers={"Last-Event-ID": "yesterday"})
    assert response.status_code == 422
    error = error_of(response)
    assert error["field"] == "Last-Event-ID" and "yesterday" in error["message"]


async def test_listening_needs_credentials_once_users_exist(api: Api) -> None:
    await api.token(Role.ADMIN)
    response = await api.client.get("/api/events")
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"


async def test_revoking_the_token_ends_its_stream(api: Api) -> None:
    quick(api)
    secret = await api.token(Role.READ_ONLY)
    token_id = int(secret.split("_")[1])
    async with (
        api.as_token(secret) as client,
        client.stream("GET", "/api/events") as response,
    ):
        sse = SseReader(response)
        await sse.until(connected)
        await api.ctx.accounts.revoke_token(token_id, actor=LOCAL)
        while (frame := await sse.next()) is not None:
            last = frame
    assert last.event == "error"


async def test_processors_coming_and_going_are_events(api: Api) -> None:
    quick(api)
    token = await api.token(Role.READ_ONLY)
    async with api.as_token(token) as client, client.stream("GET", "/api/events") as response:
        sse = SseReader(response)
        await sse.until(connected)
        async with worker(api) as processor:
            pid = processor.settings.processor_id
            up = await sse.until(lambda f: f.event == "processor.up")
        down = await sse.until(lambda f: f.event == "processor.down")
    assert up.payload["data"]["id"] == pid and up.payload["data"]["state"] == "running"
    assert down.payload["data"]["id"] == pid and down.payload["data"]["state"] == "stopped"


async def test_the_poller_runs_only_while_someone_listens(api: Api) -> None:
    quick(api)
    hub = api.ctx.events
    assert hub is not None and not hub.polling
    token = await api.token(Role.READ_ONLY)
    async with api.as_token(token) as client:
        async with client.stream("GET", "/api/events") as response:
            await SseReader(response).until(connected)
            assert hub.polling and hub.listening == 1
        for _ in range(200):  # the server notices the disconnect on its own time
            if not hub.polling:
                break
            await asyncio.sleep(0.025)
    assert not hub.polling and hub.listening == 0

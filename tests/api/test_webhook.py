"""``POST /api/cron/webhook``: a shared secret lets other systems trigger or enqueue jobs."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.api.conftest import TEST_SETTINGS, Api, error_of, running_api
from tickwork.domain.access import AuditQuery, Role
from tickwork.domain.jobs import JobState, TriggeredBy
from tickwork.domain.tasks import HttpTarget, TaskDefinition, TaskSource
from tickwork.service.jobs import EnqueueRequest

SECRET = "webhook-secret-0123456789"
HOOK = "/api/cron/webhook"
PING = TaskDefinition(name="ping", target=HttpTarget(url="http://127.0.0.1:9/"), args=(1,))


@pytest.fixture
async def hooked(sqlite_url: str) -> AsyncIterator[Api]:
    async with running_api(sqlite_url, TEST_SETTINGS.replace(webhook_secret=SECRET)) as api:
        await api.ctx.service.sync_definitions([PING], [TaskSource.CODE])
        await api.token(Role.ADMIN)  # users exist: nothing is open to local callers
        yield api


async def test_the_secret_in_a_header_triggers_a_job(hooked: Api) -> None:
    response = await hooked.client.post(
        HOOK, json={"job": "ping"}, headers={"X-Webhook-Secret": SECRET}
    )
    assert response.status_code == 202, response.text
    body = response.json()
    assert body["task"] == "ping" and body["action"] == "trigger"
    job = await hooked.ctx.service.get_job(body["job_id"])
    assert job.triggered_by is TriggeredBy.WEBHOOK and job.state is JobState.AVAILABLE
    (entry,) = await hooked.store.query_audit(AuditQuery(action="job.trigger"))
    assert entry.actor == "webhook" and entry.target == "ping"
    assert entry.request_id == response.headers["x-request-id"]


async def test_the_secret_in_the_body_enqueues_with_arguments(hooked: Api) -> None:
    body = {"secret": SECRET, "task": "ping", "args": [7], "kwargs": {"a": 1}, "delay": "10m"}
    response = await hooked.client.post(HOOK, json=body)
    assert response.status_code == 202, response.text
    assert response.json()["action"] == "enqueue"
    job = await hooked.ctx.service.get_job(response.json()["job_id"])
    assert job.args == [7] and job.kwargs == {"a": 1}
    assert job.state is JobState.SCHEDULED and job.triggered_by is TriggeredBy.WEBHOOK
    assert (job.scheduled_at - hooked.clock.now()).total_seconds() == 600


async def test_the_secret_alone_processes_due_jobs_now(sqlite_url: str) -> None:
    # Seed system 000's external trigger: the secret and nothing else, in the header (no body)
    # or in the body. Like POST /api/cron/trigger, it wakes the workers and says what is due.
    woken: list[int] = []
    settings = TEST_SETTINGS.replace(webhook_secret=SECRET)
    async with running_api(sqlite_url, settings, notify=lambda: woken.append(1)) as api:
        await api.ctx.service.sync_definitions([PING], [TaskSource.CODE])
        await api.ctx.service.enqueue(EnqueueRequest("ping"))
        await api.ctx.service.enqueue(EnqueueRequest("ping", delay_seconds=600))
        woken.clear()
        for request in (
            {"headers": {"X-Webhook-Secret": SECRET}},
            {"json": {"secret": SECRET}},
            {"json": {}, "headers": {"X-Webhook-Secret": SECRET}},
        ):
            response = await api.client.post(HOOK, **request)  # type: ignore[arg-type]
            assert response.status_code == 202, (request, response.text)
            assert response.json() == {
                "action": "process",
                "due_jobs": 1,
                "job_id": None,
                "task": None,
            }
        assert woken == [1, 1, 1]
        assert len(await api.ctx.service.list_jobs()) == 2  # nothing was enqueued
        refused = await api.client.post(HOOK)  # the secret is still checked first
        assert refused.status_code == 401


async def test_a_missing_or_wrong_secret_is_refused_before_the_body_is_read(hooked: Api) -> None:
    cases = [
        ({"job": "ping"}, {}),
        ({"job": "ping", "secret": "nope"}, {}),
        ({"job": "ping"}, {"X-Webhook-Secret": SECRET[:-1]}),
        ({"job": "ping", "secret": 12}, {}),
        ({"nonsense": True}, {}),  # not even valid: still 401 first
    ]
    for body, headers in cases:
        response = await hooked.client.post(HOOK, json=body, headers=headers)
        assert response.status_code == 401, (body, headers, response.text)
        assert "secret" in error_of(response)["message"]
    # A header takes precedence: a wrong header is not rescued by a right body secret.
    mixed = await hooked.client.post(
        HOOK, json={"job": "ping", "secret": SECRET}, headers={"X-Webhook-Secret": "x"}
    )
    assert mixed.status_code == 401
    assert await hooked.ctx.service.list_jobs() == []


async def test_bad_bodies_name_the_problem(hooked: Api) -> None:
    headers = {"X-Webhook-Secret": SECRET}
    cases = {
        "job": ({"job": "ping", "task": "ping"}, 422),
        "kwargs": ({"kwargs": {"a": 1}}, 422),  # arguments without a task to enqueue
        "color": ({"job": "ping", "color": "red"}, 422),
        "args": ({"task": "ping", "args": "1"}, 422),
        "delay": ({"task": "ping", "delay": "soon"}, 422),
        "delay ": ({"task": "ping", "delay": 1e300}, 422),
    }
    for field, (body, status) in cases.items():
        response = await hooked.client.post(HOOK, json=body, headers=headers)
        assert response.status_code == status, (body, response.text)
        assert error_of(response)["field"] == field.strip(), response.text
    unknown = await hooked.client.post(HOOK, json={"job": "nightly"}, headers=headers)
    assert unknown.status_code == 404 and "nightly" in error_of(unknown)["message"]
    broken = await hooked.client.post(HOOK, content=b"{job:", headers=headers)
    assert broken.status_code == 400 and "JSON" in error_of(broken)["message"]
    listed = await hooked.client.post(HOOK, json=["ping"], headers=headers)
    assert listed.status_code == 422 and error_of(listed)["field"] == "body"


async def test_the_webhook_is_off_without_a_secret(sqlite_url: str) -> None:
    async with running_api(sqlite_url) as api:
        response = await api.client.post(HOOK, json={"job": "ping", "secret": ""})
    assert response.status_code == 404
    assert "webhook_secret" in error_of(response)["message"]

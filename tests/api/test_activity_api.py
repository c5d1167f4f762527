"""A job's progress and events and the missed fires over the API: listed, paged, filtered,
counted, checked, scoped, and streamed live (``run.progress``, ``run.event``, ``fire.missed``)."""

from __future__ import annotations

from datetime import timedelta

import httpx

from tests.api.conftest import Api, add_run, define, error_of
from tests.api.sse import SseReader
from tickwork.domain.access import Role, Scope
from tickwork.domain.activity import MissedReason, NewMissedFire, NewRunEvent, RunEventKind


async def seed_events(api: Api, job_id: int, n: int = 5) -> None:
    now = api.clock.now()
    events = [
        NewRunEvent(job_id, 1, "ping", RunEventKind.PROGRESS, now, done=i, total=n)
        for i in range(1, n)
    ]
    events.append(
        NewRunEvent(job_id, 1, "ping", RunEventKind.EVENT, now, "synced", data={"processed": 40})
    )
    await api.store.add_run_events(events)


async def seed_missed(api: Api) -> None:
    now = api.clock.now()
    await api.store.add_missed_fires(
        [
            NewMissedFire("ping", now - timedelta(minutes=3), MissedReason.OVERLAP, "busy"),
            NewMissedFire("ping", now - timedelta(minutes=2), MissedReason.MISFIRE, "late"),
            NewMissedFire("other", now - timedelta(minutes=1), MissedReason.PAUSED, "paused"),
        ],
        now,
    )
    # Long ago: outside a "since 7d" window.
    old = now - timedelta(days=30)
    await api.store.add_missed_fires(
        [NewMissedFire("ping", old, MissedReason.NO_SCHEDULER, "down")], old
    )


async def test_job_events_listed_and_paged(api: Api, admin: httpx.AsyncClient) -> None:
    await define(api, "ping")
    job_id = await add_run(api, "ping")
    await seed_events(api, job_id)
    response = await admin.get(f"/api/queue/{job_id}/events")
    assert response.status_code == 200, response.text
    items = response.json()["items"]
    assert [i["kind"] for i in items] == ["progress"] * 4 + ["event"]
    assert items[-1]["message"] == "synced" and items[-1]["data"] == {"processed": 40}
    assert items[0]["done"] == 1 and items[0]["total"] == 5 and items[0]["task"] == "ping"
    first = await admin.get(f"/api/queue/{job_id}/events", params={"limit": 2})
    page = first.json()
    assert len(page["items"]) == 2 and page["next_cursor"] == page["items"][-1]["id"]
    rest = await admin.get(f"/api/queue/{job_id}/events", params={"cursor": page["next_cursor"]})
    assert [i["id"] for i in page["items"] + rest.json()["items"]] == [i["id"] for i in items]
    other = await admin.get(f"/api/queue/{job_id}/events", params={"attempt": 2})
    assert other.json()["items"] == []


async def test_job_events_bad_input(api: Api, admin: httpx.AsyncClient) -> None:
    missing = await admin.get("/api/queue/999999/events")
    assert missing.status_code == 404 and "999999" in error_of(missing)["message"]
    bad = await admin.get("/api/queue/1/events", params={"attempt": 0})
    assert bad.status_code == 422
    unknown = await admin.get("/api/queue/1/events", params={"after": 3})
    assert unknown.status_code == 422 and "after" in unknown.text


async def test_missed_fires_listed_filtered_and_counted(api: Api, admin: httpx.AsyncClient) -> None:
    await define(api, "ping", "other")
    await seed_missed(api)
    every = (await admin.get("/api/missed-fires")).json()["items"]
    assert [m["reason"] for m in every] == ["no_scheduler", "paused", "misfire", "overlap"]
    recent = (await admin.get("/api/missed-fires", params={"since": "7d"})).json()["items"]
    assert len(recent) == 3
    ping = await admin.get("/api/missed-fires", params={"task": "ping", "since": "7d"})
    assert [m["reason"] for m in ping.json()["items"]] == ["misfire", "overlap"]
    by_reason = await admin.get("/api/missed-fires", params=[("reason", "paused")])
    assert [m["task"] for m in by_reason.json()["items"]] == ["other"]
    counts = await admin.get("/api/missed-fires/counts", params={"since": "7d"})
    assert counts.status_code == 200, counts.text
    assert [(c["task"], c["total"], c["by_reason"]) for c in counts.json()] == [
        ("other", 1, {"paused": 1}),
        ("ping", 2, {"misfire": 1, "overlap": 1}),
    ]


async def test_missed_fires_bad_input(api: Api, admin: httpx.AsyncClient) -> None:
    await define(api, "ping")
    bad_since = await admin.get("/api/missed-fires", params={"since": "a week"})
    assert bad_since.status_code == 422
    assert error_of(bad_since)["field"] == "since"
    naive = await admin.get("/api/missed-fires", params={"since": "2026-01-01T00:00:00"})
    assert naive.status_code == 422
    unknown = await admin.get("/api/missed-fires/counts", params={"task": "nope"})
    assert unknown.status_code == 404 and "nope" in error_of(unknown)["message"]
    reason = await admin.get("/api/missed-fires", params={"reason": "late"})
    assert reason.status_code == 422


async def test_reading_needs_jobs_read(api: Api) -> None:
    auditor = await api.token(Role.READ_ONLY, frozenset({Scope.AUDIT_READ}), user="auditor")
    async with api.as_token(auditor) as client:
        assert (await client.get("/api/missed-fires")).status_code == 403
        assert (await client.get("/api/queue/1/events")).status_code == 403


async def test_progress_events_and_missed_fires_stream_live(api_any: Api) -> None:
    api = api_any
    assert api.ctx.events is not None
    api.ctx.events.poll_seconds = 0.05
    await define(api, "ping", "other")
    job_id = await add_run(api, "ping")
    reader = await api.token(Role.READ_ONLY)
    async with (
        api.as_token(reader) as listener,
        listener.stream("GET", "/api/events") as response,
    ):
        sse = SseReader(response)
        await sse.until(lambda f: f.comment is not None and f.comment.startswith("connected"))
        await seed_events(api, job_id, n=2)
        await seed_missed(api)
        event = await sse.until(lambda f: f.event == "run.event")
        missed = await sse.until(lambda f: f.event == "fire.missed")
    progress = sse.events("run.progress")
    assert [f.payload["data"]["done"] for f in progress] == [1]
    assert progress[0].payload["data"]["job_id"] == job_id
    data = event.payload["data"]
    assert data["message"] == "synced" and data["event_id"] > 0
    assert missed.payload["data"]["reason"] in {r.value for r in MissedReason}
    # Five-part positions; the last one covers the events seen.
    assert missed.id is not None and len(missed.id.split("-")) == 5

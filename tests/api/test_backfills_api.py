"""``POST /api/jobs/{name}/backfill`` (and its dry run), ``GET /api/backfills`` and
``POST /api/backfills/{id}/cancel`` over HTTP: shapes, the trigger scope, errors named."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tests.api.conftest import Api, define, error_of
from tickwork.domain.access import AuditQuery, Role


def iso(when: datetime) -> str:
    return when.astimezone(UTC).isoformat()


async def test_backfill_over_http(api_any: Api) -> None:
    api = api_any
    await define(api, "ping")  # every 5 minutes
    now = api.clock.now()
    end = now.replace(second=0, microsecond=0) - timedelta(minutes=now.minute % 5 + 60)
    body = {"from": iso(end - timedelta(minutes=20)), "to": iso(end)}

    dry = await api.client.post("/api/jobs/ping/backfill", json={**body, "dry_run": True})
    assert dry.status_code == 200, dry.text
    assert dry.json()["fires"][0].startswith(iso(end - timedelta(minutes=20))[:19])
    assert (len(dry.json()["fires"]), dry.json()["created"], dry.json()["backfill"]) == (
        5,
        5,
        None,
    )

    made = await api.client.post("/api/jobs/ping/backfill", json={**body, "overlap": "allow"})
    assert made.status_code == 200, made.text
    out = made.json()
    assert (out["created"], out["present"], out["dry_run"]) == (5, 0, False)
    backfill = out["backfill"]
    assert (backfill["state"], backfill["pending"], backfill["overlap"]) == (
        "running",
        5,
        "allow",
    )
    again = (await api.client.post("/api/jobs/ping/backfill", json=body)).json()
    assert (again["created"], again["present"]) == (0, 5)

    queue = (await api.client.get("/api/queue", params={"task": "ping"})).json()
    jobs = queue["items"] if isinstance(queue, dict) else queue
    assert {(j["triggered_by"], j["backfill_id"]) for j in jobs} == {("backfill", backfill["id"])}

    listed = (await api.client.get("/api/backfills", params={"task": "ping"})).json()
    assert [b["id"] for b in listed] == [backfill["id"]]
    one = await api.client.get(f"/api/backfills/{backfill['id']}")
    assert one.json()["fires"] == 5

    cancel = await api.client.post(f"/api/backfills/{backfill['id']}/cancel")
    assert cancel.status_code == 200, cancel.text
    assert cancel.json()["cancelled_jobs"] == 5
    assert cancel.json()["backfill"]["state"] == "cancelled"
    twice = await api.client.post(f"/api/backfills/{backfill['id']}/cancel")
    assert twice.status_code == 409
    actions = [e.action for e in await api.store.query_audit(AuditQuery())]
    assert actions.count("job.backfill") == 2 and "backfill.cancel" in actions


async def test_backfill_errors_and_scope(api: Api) -> None:
    await define(api, "ping")
    now = api.clock.now()
    past = {"from": iso(now - timedelta(hours=2)), "to": iso(now - timedelta(hours=1))}
    for body, field in [
        ({**past, "from": iso(now)}, "from"),
        ({**past, "to": iso(now + timedelta(hours=1))}, "to"),
        ({**past, "to": "2026-01-01T00:00"}, "to"),
        ({**past, "to": "soon"}, "to"),
        ({**past, "overlap": "skip"}, "overlap"),
        ({**past, "max": 3}, "max"),
    ]:
        response = await api.client.post("/api/jobs/ping/backfill", json=body)
        assert response.status_code == 422, (body, response.text)
        assert field in error_of(response)["message"], (body, response.text)
    unknown = await api.client.post("/api/jobs/nope/backfill", json=past)
    assert unknown.status_code == 404
    assert (await api.client.post("/api/backfills/99/cancel")).status_code == 404

    async with api.as_token(await api.token(Role.READ_ONLY)) as reader:
        refused = await reader.post("/api/jobs/ping/backfill", json=past)
        assert refused.status_code == 403
        assert (await reader.get("/api/backfills")).status_code == 200

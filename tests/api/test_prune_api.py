"""POST /api/prune: a pass on demand, a dry run, who may, bad input, and its audit entry."""

from __future__ import annotations

from datetime import timedelta

from tests.api.conftest import Api, error_of
from tests.store import retention_rows as rr
from tickwork.domain.access import AuditQuery, Role, Scope
from tickwork.store import schema as s


def seed(api: Api) -> None:
    old = api.clock.now() - timedelta(days=400)
    entry = rr.audit(10_000, 0)
    entry["at"] = old
    rr.insert(api.store.engine, s.audit, [entry])


async def test_prune_and_dry_run(api_any: Api) -> None:
    api = api_any
    seed(api)
    token = await api.token(Role.OPERATOR)
    async with api.as_token(token) as client:
        dry = await client.post("/api/prune", params={"dry_run": "true"})
        assert dry.status_code == 200, dry.text
        body = dry.json()
        assert body["dry_run"] is True and body["skipped"] is False
        assert body["removed"]["audit"] == 1 and body["total"] == 1
        assert rr.ids(api.store.engine, s.audit) >= {10_000}  # nothing removed

        done = await client.post("/api/prune")
        assert done.status_code == 200, done.text
        assert done.json()["removed"]["audit"] == 1 and done.json()["dry_run"] is False
    assert 10_000 not in rr.ids(api.store.engine, s.audit)
    (entry,) = await api.store.query_audit(AuditQuery(action="retention.prune"))
    assert entry.actor == "user-operator" and entry.after is not None
    assert entry.after["removed"]["audit"] == 1 and entry.request_id


async def test_prune_needs_processor_control(api: Api) -> None:
    reader = await api.token(Role.OPERATOR, frozenset({Scope.JOBS_READ}))
    async with api.as_token(reader) as client:
        response = await client.post("/api/prune")
    assert response.status_code == 403, response.text
    assert (await api.client.post("/api/prune")).status_code == 401  # users exist now


async def test_bad_input_is_a_422_naming_it(api: Api) -> None:
    bad = await api.client.post("/api/prune", params={"dry_run": "perhaps"})
    assert bad.status_code == 422 and error_of(bad).get("field") == "dry_run", bad.text
    unknown = await api.client.post("/api/prune", params={"dryRun": "true"})
    assert unknown.status_code == 422 and error_of(unknown)["field"] == "dryRun"
    assert (await api.client.get("/api/prune")).status_code == 405

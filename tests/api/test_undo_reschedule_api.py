"""Auto-rescheduling over the API: the override in the job's JSON and POST
/api/jobs/{name}/undo-reschedule (scope jobs:write, audited). A real server over a real store
of each backend, the override made by a real pass."""

from __future__ import annotations

from tests.api.conftest import HTTP_JOB, Api, add_run, error_of
from tickwork.domain.access import AuditQuery, Role
from tickwork.domain.autoschedule import AutoSettings
from tickwork.domain.jobs import RunStatus
from tickwork.runtime.autoscheduler import AutoScheduler


async def test_the_override_shows_and_one_call_undoes_it(api_any: Api) -> None:
    await api_any.ctx.service.create_task(dict(HTTP_JOB))
    for _ in range(3):
        await add_run(api_any, "ping", RunStatus.FAILED)
    auto = AutoScheduler(api_any.store, AutoSettings(enabled=True), clock=api_any.clock)
    [change] = (await auto.run_once()).changes
    assert change.action == "job.auto_disable"
    async with (
        api_any.as_token(await api_any.token(Role.ADMIN, user="ann")) as ann,
        api_any.as_token(await api_any.token(Role.OPERATOR, user="vic")) as vic,
    ):
        job = (await ann.get("/api/jobs/ping")).json()
        assert job["auto"]["breaker"] == "open"
        assert job["auto"]["effective"] == "auto-disabled (circuit breaker open)"
        assert job["schedule"] == "*/5 * * * *" and job["next_fire_at"] is None

        forbidden = await vic.post("/api/jobs/ping/undo-reschedule")
        assert forbidden.status_code == 403, forbidden.text

        undone = await ann.post("/api/jobs/ping/undo-reschedule")
        assert undone.status_code == 200, undone.text
        assert undone.json()["auto"] is None and undone.json()["next_fire_at"] is not None

        again = await ann.post("/api/jobs/ping/undo-reschedule")
        assert again.status_code == 409 and "nothing to undo" in error_of(again)["message"]
        missing = await ann.post("/api/jobs/nope/undo-reschedule")
        assert missing.status_code == 404
    [entry] = await api_any.ctx.service.audit_log(AuditQuery(action="job.undo_reschedule"))
    assert (entry.actor, entry.target) == ("ann", "ping")
    assert entry.before is not None and entry.before["breaker"] == "open"

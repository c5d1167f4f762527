"""The job page shows what auto-rescheduling changed and when, with an undo button under the
same permission as editing (jobs:write); undoing is audited."""

from __future__ import annotations

from tests.api.conftest import Api, add_run, define
from tests.dashboard.conftest import browser, csrf_of, log_in
from tests.dashboard.test_jobs import PASSWORD, admin_client
from tickwork.domain.access import LOCAL, AuditQuery, Role
from tickwork.domain.autoschedule import AutoSettings
from tickwork.domain.jobs import RunStatus
from tickwork.runtime.autoscheduler import AutoScheduler


async def auto_disabled(site: Api) -> None:
    await define(site, "ping")
    for _ in range(3):
        await add_run(site, "ping", RunStatus.FAILED)
    auto = AutoScheduler(site.store, AutoSettings(enabled=True), clock=site.clock)
    assert len((await auto.run_once()).changes) == 1


async def test_the_override_shows_and_undo_restores(site: Api) -> None:
    await auto_disabled(site)
    async with browser(site) as client:
        csrf = await admin_client(site, client)
        page = (await client.get("/jobs/ping")).text
        assert '<h2 id="auto-h">Auto-rescheduled</h2>' in page
        assert "<strong>auto-disabled (circuit breaker open)</strong>" in page
        assert 'action="/jobs/ping/undo-reschedule"' in page
        done = await client.post("/jobs/ping/undo-reschedule", data={"csrf": csrf})
        assert done.status_code == 303
        assert "Auto-rescheduled" not in (await client.get("/jobs/ping")).text
    actions = [e.action for e in await site.ctx.service.audit_log(AuditQuery(actor="ada"))]
    assert "job.undo_reschedule" in actions


async def test_an_operator_sees_the_change_but_no_undo(site: Api) -> None:
    await auto_disabled(site)
    await site.ctx.accounts.create_user("otto", Role.OPERATOR, PASSWORD, actor=LOCAL)
    async with browser(site) as client:
        assert (await log_in(client, "otto", PASSWORD)).status_code == 303
        page = await client.get("/jobs/ping")
        assert "auto-disabled (circuit breaker open)" in page.text
        assert "undo-reschedule" not in page.text
        refused = await client.post("/jobs/ping/undo-reschedule", data={"csrf": csrf_of(page.text)})
        assert refused.status_code == 403
    assert (await site.ctx.service.get_task("ping")).auto.held

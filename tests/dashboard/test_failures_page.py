"""The failures page (``/failures``) over HTTP: groups with their links and samples, "Retry all"
and "Discard" with the user in the audit log, a viewer's page without them, paging, bad input."""

from __future__ import annotations

import re
from datetime import timedelta

from tests.api.conftest import Api, define
from tests.dashboard.conftest import browser, csrf_of, log_in
from tests.service.failing import fail_job
from tickwork.domain.access import LOCAL, AuditQuery, Role
from tickwork.domain.jobs import JobState

PASSWORD = "correct horse battery"


async def _fail(site: Api) -> tuple[int, int]:
    await define(site, "ping", "pong")
    now = site.clock.now()
    await fail_job(site.store, "pong", "timeout after 30 s on 10.1.2.3", now - timedelta(hours=2))
    return await fail_job(
        site.store, "ping", "timeout after 5 s on 10.9.9.9", now - timedelta(minutes=5)
    )


async def test_the_page_shows_each_group(site_any: Api) -> None:
    job_id, run_id = await _fail(site_any)
    async with browser(site_any) as client:
        page = await client.get("/failures")
    assert page.status_code == 200, page.text
    html = page.text
    assert "<h1>Failures</h1>" in html and 'href="/failures"' in html
    assert "ValueError" in html and "× 2 failed job(s)" in html
    assert "timeout after 5 s on 10.9.9.9" in html  # the newest sample, as it was
    assert "timeout after &lt;n&gt; s on &lt;n&gt;.&lt;n&gt;" in html
    assert "/srv/app/billing.py:charge" in html
    assert 'href="/jobs/ping"' in html and 'href="/jobs/pong"' in html
    assert f'href="/queue/{job_id}"' in html and f'href="/runs/{run_id}"' in html
    assert "Retry all" in html and "Discard" in html
    assert html.count("data-confirm=") == 2
    assert 'href="/failures?since=7d" aria-current="page"' in html
    async with browser(site_any) as client:
        hour = await client.get("/failures", params={"since": "1h"})
    assert "× 1 failed job(s)" in hour.text


async def test_retry_all_and_discard_act_as_the_user(site: Api) -> None:
    await _fail(site)
    await site.ctx.accounts.create_user("olga", Role.OPERATOR, PASSWORD, actor=LOCAL)
    async with browser(site) as client:
        assert (await log_in(client, "olga", PASSWORD)).status_code == 303
        page = await client.get("/failures")
        fingerprint = re.search(r'action="/failures/([0-9a-f]{64})/retry"', page.text)
        assert fingerprint, page.text
        done = await client.post(
            f"/failures/{fingerprint.group(1)}/retry",
            data={"csrf": csrf_of(page.text), "since": "7d"},
        )
        assert done.status_code == 303
        assert done.headers["location"] == "/failures?since=7d&done=retry&n=2"
        after = await client.get(done.headers["location"])
        assert "Queued 2 failed job(s) again" in after.text
        assert "No failures in the last 7d." in after.text
    queued = [j for j in await site.ctx.service.list_jobs() if j.state is JobState.AVAILABLE]
    assert sorted(j.task_name for j in queued) == ["ping", "pong"]
    actions = [
        e.action for e in await site.ctx.service.audit_log(AuditQuery(actor="olga", limit=20))
    ]
    assert sorted(actions) == [
        "failure.retry",
        "queue_job.retry",
        "queue_job.retry",
        "session.login",
    ]


async def test_discard(site: Api) -> None:
    await _fail(site)
    async with browser(site) as client:
        page = await client.get("/failures")
        fingerprint = re.search(r'action="/failures/([0-9a-f]{64})/discard"', page.text)
        assert fingerprint
        done = await client.post(
            f"/failures/{fingerprint.group(1)}/discard",
            data={"csrf": csrf_of(page.text), "since": "24h"},
        )
        assert done.headers["location"] == "/failures?since=24h&done=discard&n=2"
        after = await client.get(done.headers["location"])
        assert "Discarded 2 failed job(s); their runs are kept." in after.text
    (entry,) = await site.ctx.service.audit_log(AuditQuery(action="failure.", limit=5))
    assert (entry.action, entry.actor) == ("failure.discard", "local")
    assert len(await site.ctx.service.query_runs(_runs())) == 2


async def test_a_viewer_sees_no_action_and_cannot_post(site: Api) -> None:
    await _fail(site)
    await site.ctx.accounts.create_user("vic", Role.READ_ONLY, PASSWORD, actor=LOCAL)
    async with browser(site) as client:
        await log_in(client, "vic", PASSWORD)
        page = await client.get("/failures")
        assert page.status_code == 200 and "ValueError" in page.text
        assert "Retry all" not in page.text and "Discard</button>" not in page.text
        fingerprint = re.search(r"<code>([0-9a-f]{64})</code>", page.text)
        assert fingerprint
        for action in ("retry", "discard"):
            refused = await client.post(
                f"/failures/{fingerprint.group(1)}/{action}",
                data={"csrf": csrf_of(page.text), "since": "7d"},
            )
            assert refused.status_code == 403
            assert "jobs:trigger" in refused.text
    assert len(await site.ctx.service.list_jobs()) == 2


async def test_bad_input_is_a_clear_page(site: Api) -> None:
    await _fail(site)
    async with browser(site) as client:
        wrong = await client.get("/failures", params={"since": "2w"})
        assert wrong.status_code == 422 and "text/html" in wrong.headers["content-type"]
        assert "since" in wrong.text
        page = await client.get("/failures")
        bad_range = await client.post(
            f"/failures/{'a' * 64}/retry", data={"csrf": csrf_of(page.text), "since": "1y"}
        )
        assert bad_range.status_code == 422 and "expected a range" in bad_range.text
        gone = await client.post(
            f"/failures/{'a' * 64}/retry", data={"csrf": csrf_of(page.text), "since": "7d"}
        )
        assert gone.status_code == 404 and "no failures" in gone.text
        lost = await client.get("/failures", params={"after": "f" * 64})
        assert "position is gone" in lost.text


async def test_groups_are_paged(site: Api) -> None:
    await define(site, "ping")
    now = site.clock.now()
    for i in range(52):
        await fail_job(
            site.store, "ping", "boom", now - timedelta(minutes=i + 1), error_type=f"E{i}"
        )
    async with browser(site) as client:
        first = await client.get("/failures")
        assert first.text.count('<section class="card"') == 50
        assert ">E0 <" in first.text and ">E49 <" in first.text and ">E50 <" not in first.text
        older = re.search(
            r'href="(/failures\?since=7d&amp;after=[0-9a-f]{64})" rel="next"', first.text
        )
        assert older, "no link to the next page"
        second = await client.get(older.group(1).replace("&amp;", "&"))
        assert second.text.count('<section class="card"') == 2
        assert ">E50 <" in second.text and ">E51 <" in second.text
        assert 'rel="next"' not in second.text


def _runs():  # type: ignore[no-untyped-def]
    from tickwork.service.queries import RunQuery

    return RunQuery(limit=10)

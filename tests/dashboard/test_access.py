"""Access to the dashboard (F1, F2) over HTTP: sessions, CSRF, roles, error pages."""

from __future__ import annotations

from tests.api.conftest import Api, define
from tests.dashboard.conftest import browser, csrf_of, log_in
from tickwork.domain.access import LOCAL, Role

PASSWORD = "correct horse battery"


async def test_without_users_the_loopback_dashboard_is_open(site: Api) -> None:
    async with browser(site) as client:
        page = await client.get("/")
        assert page.status_code == 200
        assert "<h1>Overview</h1>" in page.text
        assert page.headers["content-security-policy"] == "default-src 'self'"
        assert "tw_session" in client.cookies
        assert "Log out" not in page.text  # a local session has nobody to log out


async def test_a_page_needs_a_session_once_users_exist(site: Api) -> None:
    async with browser(site) as client:
        assert (await client.get("/")).status_code == 200  # open, with a local session
        await site.ctx.accounts.create_user("ada", Role.ADMIN, PASSWORD, actor=LOCAL)
        page = await client.get("/")
        assert page.status_code == 303
        assert page.headers["location"] == "/login?next=/"


async def test_login_opens_a_session_and_logout_ends_it(site: Api) -> None:
    await site.ctx.accounts.create_user("ada", Role.ADMIN, PASSWORD, actor=LOCAL)
    async with browser(site) as client:
        wrong = await log_in(client, "ada", "not the password")
        assert wrong.status_code == 401
        assert "wrong user name or password" in wrong.text
        ok = await log_in(client, "ada", PASSWORD)
        assert ok.status_code == 303, ok.text
        set_cookie = ok.headers["set-cookie"]
        for flag in ("HttpOnly", "Secure", "SameSite=strict"):
            assert flag.lower() in set_cookie.lower()
        page = await client.get("/")
        assert page.status_code == 200 and "ada" in page.text
        out = await client.post("/logout", data={"csrf": csrf_of(page.text)})
        assert out.status_code == 303
        assert (await client.get("/")).status_code == 303
    actions = [e.action for e in await site.ctx.service.audit_log(_audit_query())]
    assert "session.login" in actions and "session.logout" in actions


async def test_a_post_without_the_csrf_token_is_refused(site: Api) -> None:
    await define(site, "ping")
    async with browser(site) as client:
        page = await client.get("/")
        token = csrf_of(page.text)
        missing = await client.post("/jobs/ping/trigger", data={})
        assert missing.status_code == 403
        assert "CSRF" in missing.text
        other_site = await client.post(
            "/jobs/ping/trigger", data={"csrf": token}, headers={"Origin": "http://evil.test"}
        )
        assert other_site.status_code == 403
    assert await site.ctx.service.list_jobs() == []


async def test_repeated_wrong_logins_are_slowed_down(site: Api) -> None:
    await site.ctx.accounts.create_user("ada", Role.ADMIN, PASSWORD, actor=LOCAL)
    async with browser(site) as client:
        statuses = [(await log_in(client, "ada", "wrong")).status_code for _ in range(7)]
    assert statuses[:5] == [401] * 5
    assert statuses[5:] == [429, 429]


async def test_unknown_pages_are_pages_and_api_errors_stay_json(site: Api) -> None:
    async with browser(site) as client:
        page = await client.get("/no/such/page")
        assert page.status_code == 404
        assert page.headers["content-type"].startswith("text/html")
        assert "no such page" in page.text
        api = await client.get("/api/no-such-endpoint")
        assert api.status_code == 404
        assert api.json()["error"]["code"] == "not_found"


def _audit_query():  # type: ignore[no-untyped-def]
    from tickwork.domain.access import AuditQuery

    return AuditQuery(limit=50)

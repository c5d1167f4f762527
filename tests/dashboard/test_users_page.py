"""Users and tokens pages: creating users and tokens (audited with the acting user), a
token's secret shown once, disabling a user ends its sessions, viewers kept out."""

from __future__ import annotations

import re
from datetime import timedelta

from tests.api.conftest import Api
from tests.dashboard.conftest import browser, log_in
from tests.dashboard.people import PASSWORD, field_errors, person, send
from tickwork.domain.access import LOCAL, AuditQuery, Role, Scope

SECRET = re.compile(r"tw_\d+_[A-Za-z0-9_\-]{16,}")


async def _audited(site: Api, action: str, target: str | None = None) -> list[str]:
    """The actors of the entries of ``action`` (on ``target``)."""
    query = AuditQuery(action=action, target=target, limit=100)
    entries = await site.ctx.service.audit_log(query)
    return [e.actor for e in entries]


async def test_an_admin_creates_a_user_and_a_token_whose_secret_shows_once(
    site_any: Api,
) -> None:
    site = site_any
    async with person(site, "ada", Role.ADMIN) as ada:
        assert (await ada.get("/users")).status_code == 200
        created = await send(
            ada,
            "/users",
            {"name": "bob", "role": "operator", "password": PASSWORD, "password_again": PASSWORD},
        )
        assert created.status_code == 303, created.text
        assert created.headers["location"] == "/users/bob"
        page = await ada.get("/users/bob")
        assert page.status_code == 200 and "operator" in page.text
        # Only the role's scopes are offered.
        assert 'name="scope.jobs:trigger"' in page.text
        assert 'name="scope.admin"' not in page.text
        result = await send(
            ada,
            "/users/bob/tokens",
            {"name": "deploy", "scope.jobs:read": "on", "scope.jobs:trigger": "on"},
        )
        assert result.status_code == 200, result.text
        assert result.headers["cache-control"] == "no-store"
        secrets = SECRET.findall(result.text)
        assert len(set(secrets)) == 1
        secret = secrets[0]
        assert "never shown again" in result.text
        for path in ("/users/bob", "/users", "/audit", "/account"):
            assert secret not in (await ada.get(path)).text, path
            assert secret.split("_", 2)[2] not in (await ada.get(path)).text, path
    async with site.as_token(secret) as bob:
        assert (await bob.get("/api/jobs")).status_code == 200
    assert await _audited(site, "user.create", "bob") == ["ada"]
    assert await _audited(site, "token.create") == ["ada"]
    (token,) = await site.ctx.accounts.list_tokens("bob")
    assert token.name == "deploy" and token.scopes == {Scope.JOBS_READ, Scope.JOBS_TRIGGER}


async def test_bad_input_is_shown_next_to_its_field(site: Api) -> None:
    async with person(site, "ada", Role.ADMIN) as ada:
        for form, field in (
            ({"name": "bob", "password": "short"}, "password"),
            ({"name": "bob", "password": PASSWORD, "password_again": "other"}, "password_again"),
            ({"name": "no spaces", "password": PASSWORD}, "name"),
            ({"name": "ada", "password": PASSWORD}, "name"),  # taken
            ({"name": "bob", "role": "boss", "password": PASSWORD}, "role"),
        ):
            data = {"role": "read_only", "password_again": form["password"], **form}
            page = await send(ada, "/users", data)
            assert page.status_code == 422, (form, page.text)
            assert list(field_errors(page.text)) == [field], form
            assert form["password"] not in page.text  # a password is never sent back
        await site.ctx.accounts.create_user("vic", Role.READ_ONLY, None, actor=LOCAL)
        for form, field in (
            ({"name": "", "scope.jobs:read": "on"}, "name"),
            ({"name": "x"}, "scopes"),
            ({"name": "x", "scope.admin": "on"}, "scopes"),  # beyond the role: forged
            ({"name": "x", "scope.jobs:read": "on", "expires_in": "soon"}, "expires_in"),
            ({"name": "x", "scope.jobs:read": "on", "expires_in": "0s"}, "expires_in"),
        ):
            page = await send(ada, "/users/vic/tokens", form)
            assert page.status_code == 422, (form, page.text)
            assert list(field_errors(page.text)) == [field], form
    assert [u.name for u in await site.ctx.accounts.list_users()] == ["ada", "vic"]
    assert await site.ctx.accounts.list_tokens("vic") == []


async def test_disabling_a_user_ends_its_session_for_good(site_any: Api) -> None:
    site = site_any
    async with person(site, "ada", Role.ADMIN) as ada, person(site, "bob", Role.OPERATOR) as bob:
        assert (await bob.get("/")).status_code == 200
        assert (await send(ada, "/users/bob/disable")).status_code == 303
        ended = await bob.get("/")
        assert ended.status_code == 303 and ended.headers["location"].startswith("/login")
        assert (await send(ada, "/users/bob/enable")).status_code == 303
        # Enabled again, the old session stays closed: bob logs in anew.
        assert (await bob.get("/processors")).status_code == 303
        assert (await log_in(bob, "bob", PASSWORD)).status_code == 303
        assert (await bob.get("/")).status_code == 200
        assert (await send(ada, "/users/bob/role", {"role": "read_only"})).status_code == 303
    assert (await site.ctx.accounts.get_user("bob")).role is Role.READ_ONLY
    assert await _audited(site, "user.update") == ["ada", "ada", "ada"]


async def test_an_admin_revokes_a_token(site: Api) -> None:
    await site.ctx.accounts.create_user("bob", Role.OPERATOR, None, actor=LOCAL)
    token, secret = await site.ctx.accounts.create_token(
        "bob", "ci", frozenset({Scope.JOBS_READ}), None, actor=LOCAL
    )
    async with person(site, "ada", Role.ADMIN) as ada:
        page = await ada.get("/users/bob")
        assert f'action="/users/bob/tokens/{token.id}/revoke"' in page.text
        assert secret not in page.text
        wrong_user = await send(ada, f"/users/ada/tokens/{token.id}/revoke")
        assert wrong_user.status_code == 404
        revoked = await send(ada, f"/users/bob/tokens/{token.id}/revoke")
        assert revoked.status_code == 303
        assert "revoked" in (await ada.get("/users/bob")).text
    async with site.as_token(secret) as bob:
        assert (await bob.get("/api/jobs")).status_code == 401
    assert await _audited(site, "token.revoke") == ["ada"]


async def test_a_viewer_gets_403_on_the_admin_pages_and_their_actions(site: Api) -> None:
    await site.ctx.accounts.create_user("bob", Role.OPERATOR, None, actor=LOCAL)
    async with person(site, "vic", Role.READ_ONLY) as vic:
        for path in ("/users", "/users/bob"):
            page = await vic.get(path)
            assert page.status_code == 403, path
            assert page.headers["content-type"].startswith("text/html")
        for path, data in (
            ("/users", {"name": "eve", "role": "admin", "password": PASSWORD}),
            ("/users/bob/disable", {}),
            ("/users/vic/role", {"role": "admin"}),
            ("/users/bob/tokens", {"name": "x", "scope.jobs:read": "on"}),
        ):
            assert (await send(vic, path, data)).status_code == 403, path
        assert 'href="/users"' not in (await vic.get("/")).text
    assert (await site.ctx.accounts.get_user("vic")).role is Role.READ_ONLY
    assert [u.name for u in await site.ctx.accounts.list_users()] == ["bob", "vic"]


async def test_a_user_manages_their_own_tokens_on_their_account(site: Api) -> None:
    await site.ctx.accounts.create_user("bob", Role.OPERATOR, None, actor=LOCAL)
    other, _ = await site.ctx.accounts.create_token(
        "bob", "bobs", frozenset({Scope.JOBS_READ}), None, actor=LOCAL
    )
    async with person(site, "vic", Role.READ_ONLY) as vic:
        page = await vic.get("/account")
        assert page.status_code == 200 and "bobs" not in page.text
        assert (
            'name="scope.jobs:read"' in page.text and 'name="scope.jobs:trigger"' not in page.text
        )
        result = await send(
            vic, "/account/tokens", {"name": "laptop", "scope.jobs:read": "on", "expires_in": "30d"}
        )
        assert result.status_code == 200, result.text
        (secret,) = set(SECRET.findall(result.text))
        (mine,) = await site.ctx.accounts.list_tokens("vic")
        assert mine.expires_at == site.clock.now() + timedelta(days=30)
        assert secret not in (await vic.get("/account")).text
        assert (await send(vic, f"/account/tokens/{other.id}/revoke")).status_code == 404
        assert (await send(vic, f"/account/tokens/{mine.id}/revoke")).status_code == 303
    assert (await site.ctx.accounts.list_tokens("bob"))[0].revoked_at is None
    assert (await site.ctx.accounts.list_tokens("vic"))[0].revoked_at is not None
    assert await _audited(site, "token.create", str(mine.id)) == ["vic"]
    assert await _audited(site, "token.revoke") == ["vic"]


async def test_the_admin_pages_render_in_local_mode(site: Api) -> None:
    async with browser(site) as client:
        for path in ("/processors", "/audit", "/users", "/account"):
            page = await client.get(path)
            assert page.status_code == 200, (path, page.text)
        assert "no account" in page.text
        nav = (await client.get("/")).text
        for path in ("/processors", "/audit", "/users"):
            assert f'href="{path}"' in nav
        refused = await send(client, "/account/tokens", {"name": "x", "scope.jobs:read": "on"})
        assert refused.status_code == 409


async def test_creating_the_first_user_closes_the_open_dashboard(site: Api) -> None:
    async with browser(site) as client:
        created = await send(
            client,
            "/users",
            {"name": "ada", "role": "admin", "password": PASSWORD, "password_again": PASSWORD},
        )
        assert created.status_code == 303
        assert (await client.get("/users/ada")).status_code == 303  # to the login form
    assert await _audited(site, "user.create") == ["local"]

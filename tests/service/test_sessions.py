"""Dashboard sessions (service/sessions.py) on both stores, on an injected clock: idle and
absolute expiry, disabled users, the local session, logout, CSRF tokens."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from tickwork.clock import FakeClock
from tickwork.domain.access import LOCAL, Role
from tickwork.errors import AuthError
from tickwork.service.accounts import Accounts, secret_hash
from tickwork.service.context import Context
from tickwork.service.sessions import Sessions
from tickwork.store import SqlStore

PASSWORD = "correct horse battery"


def sessions_over(store: SqlStore) -> tuple[Sessions, Accounts, FakeClock]:
    clock = FakeClock(datetime(2026, 12, 7, 9, 0, tzinfo=UTC))
    ctx = Context(store, clock=clock)
    accounts = Accounts(ctx)
    return Sessions(ctx, accounts, idle_seconds=600, max_age_seconds=3600), accounts, clock


async def test_a_session_ends_when_idle_or_too_old(store: SqlStore) -> None:
    sessions, accounts, clock = sessions_over(store)
    await accounts.create_user("ada", Role.OPERATOR, PASSWORD, actor=LOCAL)
    cookie, session = await sessions.login("ada", PASSWORD)
    assert session.principal.name == "ada" and session.principal.role is Role.OPERATOR
    # Used every 9 minutes it stays open until its absolute age is reached.
    for _ in range(6):
        clock.advance(540)
        assert await sessions.resolve(cookie) is not None
    clock.advance(540)  # 63 minutes after the login
    assert await sessions.resolve(cookie) is None
    # Idle for longer than the idle limit: gone, even though young.
    cookie, _ = await sessions.login("ada", PASSWORD)
    clock.advance(601)
    assert await sessions.resolve(cookie) is None


async def test_a_disabled_user_loses_its_session_and_logout_ends_one(store: SqlStore) -> None:
    sessions, accounts, _ = sessions_over(store)
    await accounts.create_user("ada", Role.ADMIN, PASSWORD, actor=LOCAL)
    await accounts.create_user("bob", Role.READ_ONLY, PASSWORD, actor=LOCAL)
    ada, _ = await sessions.login("ada", PASSWORD)
    bob, _ = await sessions.login("bob", PASSWORD)
    await accounts.update_user("bob", role=None, disabled=True, actor=LOCAL)
    assert await sessions.resolve(bob) is None
    await sessions.logout(ada)
    assert await sessions.resolve(ada) is None
    assert await store.get_session(secret_hash(ada)) is None


async def test_wrong_credentials_open_nothing(store: SqlStore) -> None:
    sessions, accounts, _ = sessions_over(store)
    await accounts.create_user("ada", Role.ADMIN, PASSWORD, actor=LOCAL)
    for name, password in (("ada", "wrong password!"), ("nobody", PASSWORD)):
        with pytest.raises(AuthError, match="wrong user name or password"):
            await sessions.login(name, password)
    for forged in (None, "", "tws_short", "tws_" + "A" * 43, "tw_1_" + "a" * 43):
        assert await sessions.resolve(forged) is None


async def test_a_local_session_is_a_cookie_only(store: SqlStore) -> None:
    sessions, _, _ = sessions_over(store)
    cookie, session = sessions.local(None)
    assert cookie is not None
    assert session.principal == LOCAL and session.user_name is None
    again, same = sessions.local(cookie)
    assert again is None and same.csrf == session.csrf
    assert await sessions.resolve(cookie) is None  # nothing stored: never a user's session
    fresh, other = sessions.local("not a session cookie")
    assert fresh is not None and other.csrf != session.csrf


async def test_the_csrf_token_belongs_to_its_session(store: SqlStore) -> None:
    sessions, accounts, _ = sessions_over(store)
    await accounts.create_user("ada", Role.ADMIN, PASSWORD, actor=LOCAL)
    first, one = await sessions.login("ada", PASSWORD)
    _, other = await sessions.login("ada", PASSWORD)
    resolved = await sessions.resolve(first)
    assert resolved is not None and resolved.csrf == one.csrf
    assert one.csrf_matches(one.csrf)
    assert not one.csrf_matches(other.csrf)
    assert not one.csrf_matches(None) and not one.csrf_matches("")
    # Only the hash of the cookie is stored.
    assert await store.get_session(first) is None
    assert await store.get_session(secret_hash(first)) is not None

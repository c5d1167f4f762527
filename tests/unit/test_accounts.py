"""The Accounts use cases on a real store: passwords, tokens (expiry on a fake clock, revocation,
disabled users, scopes), what goes to the audit log and what never does."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from argon2 import PasswordHasher

from tickwork.clock import FakeClock
from tickwork.domain.access import (
    LOCAL,
    ROLE_SCOPES,
    AuditQuery,
    Principal,
    Role,
    Scope,
)
from tickwork.errors import AuthError, ConfigError, ConflictError, InvalidStateError, NotFoundError
from tickwork.service.accounts import TOKEN_PREFIX, Accounts, secret_hash
from tickwork.service.context import Context
from tickwork.store import SqlStore

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
PASSWORD = "correct horse battery"
ADMIN = Principal(name="root", scopes=frozenset(Scope), role=Role.ADMIN)


def cheap_hasher(time_cost: int = 1) -> PasswordHasher:
    # argon2id still, with parameters that keep tests fast.
    return PasswordHasher(time_cost=time_cost, memory_cost=1024, parallelism=1)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(T0)


@pytest.fixture
def accounts(store: SqlStore, clock: FakeClock) -> Accounts:
    return Accounts(Context(store, clock=clock), hasher=cheap_hasher())


# --- users and passwords ------------------------------------------------------------------------
async def test_password_login(accounts: Accounts) -> None:
    user = await accounts.create_user("alice", Role.OPERATOR, PASSWORD, actor=ADMIN)
    assert user.name == "alice" and user.role is Role.OPERATOR and user.created_at == T0
    principal = await accounts.check_password("alice", PASSWORD)
    assert principal.name == "alice" and principal.role is Role.OPERATOR
    assert principal.scopes == ROLE_SCOPES[Role.OPERATOR]
    assert await accounts.has_users()


async def test_wrong_password_unknown_and_disabled_users_get_the_same_answer(
    accounts: Accounts,
) -> None:
    await accounts.create_user("alice", Role.ADMIN, PASSWORD, actor=ADMIN)
    await accounts.create_user("tokens-only", Role.ADMIN, None, actor=ADMIN)
    messages = set()
    for name, password in [
        ("alice", PASSWORD + "!"),
        ("nobody", PASSWORD),
        ("tokens-only", PASSWORD),
        ("alice", "x" * 5000),
    ]:
        with pytest.raises(AuthError) as caught:
            await accounts.check_password(name, password)
        messages.add(str(caught.value))
    await accounts.update_user("alice", role=None, disabled=True, actor=ADMIN)
    with pytest.raises(AuthError) as caught:
        await accounts.check_password("alice", PASSWORD)
    messages.add(str(caught.value))
    assert messages == {"wrong user name or password"}


async def test_user_input_is_checked(accounts: Accounts) -> None:
    with pytest.raises(ConfigError) as short:
        await accounts.create_user("alice", Role.ADMIN, "short", actor=ADMIN)
    assert short.value.field == "password" and "12" in str(short.value)
    with pytest.raises(ConfigError) as bad_name:
        await accounts.create_user("no spaces", Role.ADMIN, PASSWORD, actor=ADMIN)
    assert bad_name.value.field == "name"
    await accounts.create_user("alice", Role.ADMIN, PASSWORD, actor=ADMIN)
    with pytest.raises(ConflictError, match="alice"):
        await accounts.create_user("alice", Role.ADMIN, PASSWORD, actor=ADMIN)
    with pytest.raises(NotFoundError, match="nobody"):
        await accounts.get_user("nobody")
    with pytest.raises(NotFoundError):
        await accounts.update_user("nobody", role=Role.ADMIN, disabled=None, actor=ADMIN)
    assert [u.name for u in await accounts.list_users()] == ["alice"]


async def test_a_stale_hash_is_upgraded_at_login(store: SqlStore, clock: FakeClock) -> None:
    old = Accounts(Context(store, clock=clock), hasher=cheap_hasher(time_cost=1))
    await old.create_user("alice", Role.ADMIN, PASSWORD, actor=ADMIN)
    stale = await store.get_password_hash("alice")
    assert stale is not None
    new_hasher = cheap_hasher(time_cost=2)
    assert new_hasher.check_needs_rehash(stale)
    await Accounts(Context(store, clock=clock), hasher=new_hasher).check_password("alice", PASSWORD)
    fresh = await store.get_password_hash("alice")
    assert fresh is not None and fresh != stale and fresh.startswith("$argon2id$")
    assert not new_hasher.check_needs_rehash(fresh)
    # And the new hash still checks out.
    await Accounts(Context(store, clock=clock), hasher=new_hasher).check_password("alice", PASSWORD)


async def test_default_hasher_is_argon2id(store: SqlStore) -> None:
    await Accounts(Context(store)).create_user("alice", Role.ADMIN, PASSWORD, actor=ADMIN)
    stored = await store.get_password_hash("alice")
    assert stored is not None and stored.startswith("$argon2id$")


# --- tokens -------------------------------------------------------------------------------------
async def test_token_authenticates_with_its_scopes(accounts: Accounts) -> None:
    await accounts.create_user("ci", Role.OPERATOR, None, actor=ADMIN)
    scopes = frozenset({Scope.JOBS_READ, Scope.JOBS_TRIGGER})
    token, secret = await accounts.create_token("ci", "deploys", scopes, None, actor=ADMIN)
    assert secret.startswith(f"{TOKEN_PREFIX}{token.id}_") and len(secret) > 40
    principal = await accounts.authenticate(secret)
    assert principal == Principal(name="ci", scopes=scopes, role=Role.OPERATOR, token_id=token.id)
    (listed,) = await accounts.list_tokens("ci")
    assert listed.id == token.id and listed.scopes == scopes and listed.last_used_at == T0


@pytest.mark.parametrize(
    "mangle",
    [
        lambda s: s[:-1] + ("A" if s[-1] != "A" else "B"),  # wrong secret
        lambda s: s.replace(TOKEN_PREFIX, "xx_"),  # not a token
        lambda s: TOKEN_PREFIX + "999999_" + s.split("_", 2)[2],  # unknown ID
        lambda s: s + "\n",
        lambda s: "",
    ],
)
async def test_bad_bearers_are_refused(accounts: Accounts, mangle: object) -> None:
    await accounts.create_user("ci", Role.ADMIN, None, actor=ADMIN)
    _, secret = await accounts.create_token("ci", "t", frozenset({Scope.ADMIN}), None, actor=ADMIN)
    with pytest.raises(AuthError, match="invalid token"):
        await accounts.authenticate(mangle(secret))  # type: ignore[operator]


async def test_expired_token_is_refused(accounts: Accounts, clock: FakeClock) -> None:
    await accounts.create_user("ci", Role.ADMIN, None, actor=ADMIN)
    expires = T0 + timedelta(hours=1)
    _, secret = await accounts.create_token(
        "ci", "t", frozenset({Scope.JOBS_READ}), expires, actor=ADMIN
    )
    clock.set(expires - timedelta(seconds=1))
    await accounts.authenticate(secret)
    clock.set(expires)
    with pytest.raises(AuthError, match="expired"):
        await accounts.authenticate(secret)


async def test_expiry_must_be_in_the_future(accounts: Accounts) -> None:
    await accounts.create_user("ci", Role.ADMIN, None, actor=ADMIN)
    for when in (T0, T0 - timedelta(days=1), datetime(2030, 1, 1)):
        with pytest.raises(ConfigError) as caught:
            await accounts.create_token("ci", "t", frozenset({Scope.JOBS_READ}), when, actor=ADMIN)
        assert caught.value.field == "expires_at"


async def test_revoked_token_is_refused_at_once(accounts: Accounts) -> None:
    await accounts.create_user("ci", Role.ADMIN, None, actor=ADMIN)
    token, secret = await accounts.create_token(
        "ci", "t", frozenset({Scope.JOBS_READ}), None, actor=ADMIN
    )
    await accounts.authenticate(secret)  # works, and is remembered as recently used
    revoked = await accounts.revoke_token(token.id, actor=ADMIN)
    assert revoked.revoked_at == T0
    with pytest.raises(AuthError, match="revoked"):
        await accounts.authenticate(secret)
    again = await accounts.revoke_token(token.id, actor=ADMIN)  # idempotent
    assert again.revoked_at == T0
    with pytest.raises(NotFoundError):
        await accounts.revoke_token(token.id + 100, actor=ADMIN)


async def test_disabled_users_tokens_are_refused(accounts: Accounts) -> None:
    await accounts.create_user("ci", Role.ADMIN, None, actor=ADMIN)
    _, secret = await accounts.create_token(
        "ci", "t", frozenset({Scope.JOBS_READ}), None, actor=ADMIN
    )
    await accounts.update_user("ci", role=None, disabled=True, actor=ADMIN)
    assert not await accounts.has_users()
    with pytest.raises(AuthError):
        await accounts.authenticate(secret)
    with pytest.raises(InvalidStateError, match="disabled"):
        await accounts.create_token("ci", "t2", frozenset({Scope.JOBS_READ}), None, actor=ADMIN)
    # Enabled again, the user's old tokens stay revoked.
    await accounts.update_user("ci", role=None, disabled=False, actor=ADMIN)
    with pytest.raises(AuthError, match="revoked"):
        await accounts.authenticate(secret)


async def test_disabling_a_user_ends_its_sessions_and_only_its(
    accounts: Accounts, store: SqlStore
) -> None:
    for name in ("alice", "bob"):
        await accounts.create_user(name, Role.OPERATOR, None, actor=ADMIN)
        await store.create_session(secret_hash(f"session-of-{name}"), name, T0)
    await accounts.update_user("alice", role=Role.READ_ONLY, disabled=None, actor=ADMIN)
    assert await store.get_session(secret_hash("session-of-alice")) is not None
    await accounts.update_user("alice", role=None, disabled=True, actor=ADMIN)
    assert await store.get_session(secret_hash("session-of-alice")) is None
    assert await store.get_session(secret_hash("session-of-bob")) is not None


async def test_revoking_for_an_owner_reaches_only_its_tokens(accounts: Accounts) -> None:
    for name in ("alice", "bob"):
        await accounts.create_user(name, Role.OPERATOR, None, actor=ADMIN)
    token, _ = await accounts.create_token(
        "bob", "t", frozenset({Scope.JOBS_READ}), None, actor=ADMIN
    )
    alice = Principal(name="alice", scopes=ROLE_SCOPES[Role.OPERATOR], role=Role.OPERATOR)
    with pytest.raises(NotFoundError):
        await accounts.revoke_token(token.id, actor=alice, owner="alice")
    assert (await accounts.list_tokens("bob"))[0].revoked_at is None
    revoked = await accounts.revoke_token(token.id, actor=alice, owner="bob")
    assert revoked.revoked_at == T0


async def test_scopes_above_the_role_are_refused_at_creation(accounts: Accounts) -> None:
    await accounts.create_user("viewer", Role.READ_ONLY, None, actor=ADMIN)
    await accounts.create_user("op", Role.OPERATOR, None, actor=ADMIN)
    with pytest.raises(ConfigError, match="jobs:trigger") as caught:
        await accounts.create_token(
            "viewer", "t", frozenset({Scope.JOBS_READ, Scope.JOBS_TRIGGER}), None, actor=ADMIN
        )
    assert caught.value.field == "scopes"
    with pytest.raises(ConfigError, match="admin"):
        await accounts.create_token("op", "t", frozenset({Scope.ADMIN}), None, actor=ADMIN)
    with pytest.raises(ConfigError, match="jobs:write"):
        await accounts.create_token("op", "t", frozenset({Scope.JOBS_WRITE}), None, actor=ADMIN)
    with pytest.raises(ConfigError) as empty:
        await accounts.create_token("op", "t", frozenset(), None, actor=ADMIN)
    assert empty.value.field == "scopes"
    assert await accounts.list_tokens() == []


async def test_a_demoted_users_tokens_lose_what_the_role_no_longer_allows(
    accounts: Accounts,
) -> None:
    await accounts.create_user("boss", Role.ADMIN, None, actor=ADMIN)
    _, secret = await accounts.create_token(
        "boss", "t", frozenset({Scope.ADMIN}), None, actor=ADMIN
    )
    assert (await accounts.authenticate(secret)).scopes == frozenset(Scope)
    await accounts.update_user("boss", role=Role.READ_ONLY, disabled=None, actor=ADMIN)
    principal = await accounts.authenticate(secret)
    assert principal.scopes == ROLE_SCOPES[Role.READ_ONLY]
    assert not principal.allows(Scope.JOBS_TRIGGER)


async def test_last_use_is_written_at_most_once_a_minute(
    accounts: Accounts, clock: FakeClock
) -> None:
    await accounts.create_user("ci", Role.ADMIN, None, actor=ADMIN)
    _, secret = await accounts.create_token(
        "ci", "t", frozenset({Scope.JOBS_READ}), None, actor=ADMIN
    )

    async def last_used() -> datetime | None:
        (listed,) = await accounts.list_tokens()
        return listed.last_used_at

    await accounts.authenticate(secret)
    assert await last_used() == T0
    clock.advance(30)
    await accounts.authenticate(secret)
    assert await last_used() == T0
    clock.advance(31)
    await accounts.authenticate(secret)
    assert await last_used() == T0 + timedelta(seconds=61)


# --- the audit log ------------------------------------------------------------------------------
async def test_changes_are_audited_without_secrets(store: SqlStore, accounts: Accounts) -> None:
    await accounts.create_user("alice", Role.ADMIN, PASSWORD, actor=LOCAL)
    token, secret = await accounts.create_token(
        "alice", "laptop", frozenset({Scope.JOBS_READ}), None, actor=ADMIN
    )
    await accounts.update_user("alice", role=Role.OPERATOR, disabled=None, actor=ADMIN)
    await accounts.update_user("alice", role=Role.OPERATOR, disabled=None, actor=ADMIN)  # no-op
    await accounts.revoke_token(token.id, actor=ADMIN)
    entries = await store.query_audit(AuditQuery())
    assert [(e.actor, e.action, e.target_type, e.target) for e in entries] == [
        ("root", "token.revoke", "token", str(token.id)),
        ("root", "user.update", "user", "alice"),
        ("root", "token.create", "token", str(token.id)),
        ("local", "user.create", "user", "alice"),
    ]
    revoke, update, create, user_create = entries
    assert update.before == {"role": "admin"} and update.after == {"role": "operator"}
    assert create.after == {
        "user": "alice",
        "name": "laptop",
        "scopes": ["jobs:read"],
        "expires_at": None,
    }
    assert user_create.after == {"role": "admin", "password": True}
    assert revoke.before == {"revoked_at": None} and revoke.after == {"revoked_at": T0.isoformat()}
    # Neither the token, its secret part, its hash, nor the password or its hash appear.
    text = json.dumps([[e.before, e.after, e.target] for e in entries])
    password_hash = await store.get_password_hash("alice")
    assert password_hash is not None
    for secret_text in (
        secret,
        secret.split("_", 2)[2],
        secret_hash(secret.split("_", 2)[2]),
        PASSWORD,
        password_hash,
    ):
        assert secret_text not in text

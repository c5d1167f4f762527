"""The Store contract for users, tokens, the audit log and run-time control, on SQLite and on
PostgreSQL (through the ``store`` fixture). Every ``now`` is an explicit aware-UTC time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tickwork.domain.access import AuditQuery, NewAuditEntry, Role, Scope
from tickwork.domain.queries import ControlState
from tickwork.errors import ConflictError
from tickwork.store import SqlStore

T0 = datetime(2024, 5, 17, 12, 0, 0, 123457, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


# --- users ---------------------------------------------------------------------------------------
async def test_create_and_read_users(store: SqlStore) -> None:
    alice = await store.create_user("alice", "hash-a", Role.ADMIN, at(0))
    bob = await store.create_user("bob", None, Role.READ_ONLY, at(1))
    assert alice.id != bob.id
    assert alice.name == "alice" and alice.role is Role.ADMIN
    assert alice.created_at == at(0) and alice.disabled_at is None
    assert await store.get_user("alice") == alice
    assert await store.get_user("nobody") is None
    assert [u.name for u in await store.list_users()] == ["alice", "bob"]
    assert await store.count_users() == 2
    assert await store.get_password_hash("alice") == "hash-a"
    assert await store.get_password_hash("bob") is None
    assert await store.get_password_hash("nobody") is None


async def test_taken_user_name_is_a_conflict(store: SqlStore) -> None:
    await store.create_user("alice", None, Role.ADMIN, at(0))
    with pytest.raises(ConflictError, match="alice"):
        await store.create_user("alice", None, Role.OPERATOR, at(1))
    # The store is still usable after the failed insert.
    assert (await store.get_user("alice")) is not None
    assert await store.count_users() == 1


async def test_set_password_hash(store: SqlStore) -> None:
    await store.create_user("alice", "old", Role.ADMIN, at(0))
    await store.set_password_hash("alice", "new")
    assert await store.get_password_hash("alice") == "new"


async def test_update_role_and_enable(store: SqlStore) -> None:
    await store.create_user("alice", "h", Role.READ_ONLY, at(0))
    changed = await store.update_user("alice", role=Role.OPERATOR)
    assert changed is not None and changed.role is Role.OPERATOR and changed.disabled_at is None
    disabled = await store.update_user("alice", disabled_at=at(5))
    assert disabled is not None and disabled.disabled_at == at(5)
    assert await store.count_users() == 0
    assert await store.get_password_hash("alice") is None  # a disabled user cannot log in
    enabled = await store.update_user("alice", enable=True)
    assert enabled is not None and enabled.disabled_at is None
    assert await store.count_users() == 1
    assert await store.update_user("nobody", role=Role.ADMIN) is None


async def test_disabling_a_user_revokes_its_tokens(store: SqlStore) -> None:
    alice = await store.create_user("alice", None, Role.ADMIN, at(0))
    bob = await store.create_user("bob", None, Role.ADMIN, at(0))
    revoked_before = await store.create_token(
        alice.id, "old", frozenset({Scope.ADMIN}), "a" * 64, None, at(1)
    )
    await store.revoke_token(revoked_before.id, at(2))
    live = await store.create_token(
        alice.id, "live", frozenset({Scope.JOBS_READ}), "b" * 64, None, at(1)
    )
    other = await store.create_token(
        bob.id, "bob's", frozenset({Scope.JOBS_READ}), "c" * 64, None, at(1)
    )
    await store.update_user("alice", disabled_at=at(10))
    by_id = {t.id: t for t in await store.list_tokens()}
    assert by_id[live.id].revoked_at == at(10)
    assert by_id[revoked_before.id].revoked_at == at(2)  # keeps its own time
    assert by_id[other.id].revoked_at is None
    # Re-enabling the user does not bring its tokens back.
    await store.update_user("alice", enable=True)
    assert {t.id: t for t in await store.list_tokens()}[live.id].revoked_at == at(10)


# --- tokens --------------------------------------------------------------------------------------
async def test_token_round_trip(store: SqlStore) -> None:
    alice = await store.create_user("alice", None, Role.OPERATOR, at(0))
    scopes = frozenset({Scope.JOBS_READ, Scope.JOBS_TRIGGER})
    token = await store.create_token(alice.id, "ci", scopes, "f" * 64, at(3600), at(0))
    assert token.user_id == alice.id and token.user_name == "alice" and token.name == "ci"
    assert token.scopes == scopes
    assert token.created_at == at(0) and token.expires_at == at(3600)
    assert token.revoked_at is None and token.last_used_at is None
    found = await store.get_token(token.id)
    assert found is not None
    got, secret_hash, user = found
    assert got == token and secret_hash == "f" * 64 and user == alice
    assert await store.get_token(token.id + 1000) is None


async def test_list_tokens_by_user(store: SqlStore) -> None:
    alice = await store.create_user("alice", None, Role.ADMIN, at(0))
    bob = await store.create_user("bob", None, Role.ADMIN, at(0))
    t1 = await store.create_token(alice.id, "one", frozenset({Scope.ADMIN}), "1" * 64, None, at(1))
    t2 = await store.create_token(bob.id, "two", frozenset({Scope.ADMIN}), "2" * 64, None, at(2))
    t3 = await store.create_token(
        alice.id, "three", frozenset({Scope.ADMIN}), "3" * 64, None, at(3)
    )
    assert [t.id for t in await store.list_tokens()] == [t1.id, t2.id, t3.id]
    assert [t.id for t in await store.list_tokens("alice")] == [t1.id, t3.id]
    assert [t.user_name for t in await store.list_tokens("bob")] == ["bob"]
    assert await store.list_tokens("nobody") == []


async def test_revoke_is_idempotent_and_touch_records_use(store: SqlStore) -> None:
    alice = await store.create_user("alice", None, Role.ADMIN, at(0))
    token = await store.create_token(alice.id, "t", frozenset({Scope.ADMIN}), "9" * 64, None, at(0))
    await store.touch_token(token.id, at(7))
    first = await store.revoke_token(token.id, at(10))
    again = await store.revoke_token(token.id, at(20))
    assert first is not None and first.revoked_at == at(10)
    assert again is not None and again.revoked_at == at(10)
    assert again.last_used_at == at(7)
    assert await store.revoke_token(token.id + 1000, at(10)) is None


# --- audit ---------------------------------------------------------------------------------------
def entry(n: int, **kw: object) -> NewAuditEntry:
    values: dict[str, object] = {
        "actor": "alice",
        "action": "job.trigger",
        "target_type": "job",
        "target": "backup",
        "at": at(n),
    }
    values.update(kw)
    return NewAuditEntry(**values)  # type: ignore[arg-type]


async def test_audit_round_trip_with_json(store: SqlStore) -> None:
    new_id = await store.add_audit(
        entry(
            0,
            action="job.update",
            before={"schedule": "@daily", "tags": ["a"]},
            after={"schedule": "@hourly", "when": at(5)},  # a time becomes its ISO text
            request_id="req-1",
        )
    )
    (got,) = await store.query_audit(AuditQuery())
    assert got.id == new_id and got.at == at(0) and got.request_id == "req-1"
    assert got.before == {"schedule": "@daily", "tags": ["a"]}
    assert got.after == {"schedule": "@hourly", "when": str(at(5))}


async def test_audit_filters_and_order(store: SqlStore) -> None:
    ids = [
        await store.add_audit(entry(0)),
        await store.add_audit(entry(1, action="job.update", actor="bob")),
        await store.add_audit(entry(2, action="token.revoke", target_type="token", target="7")),
        await store.add_audit(entry(3, action="jobs_x.update", target="other")),
        await store.add_audit(entry(4, action="job.trigger", target="other")),
    ]

    async def found(**kw: object) -> list[int]:
        return [e.id for e in await store.query_audit(AuditQuery(**kw))]  # type: ignore[arg-type]

    assert await found() == ids[::-1]  # newest first
    assert await found(actor="bob") == [ids[1]]
    assert await found(action="job.trigger") == [ids[4], ids[0]]
    # A prefix ending in "." matches its family only ("job." is not "jobs_x.").
    assert await found(action="job.") == [ids[4], ids[1], ids[0]]
    assert await found(action="job") == []  # no dot: exact only
    assert await found(target_type="token", target="7") == [ids[2]]
    assert await found(target="other") == [ids[4], ids[3]]
    assert await found(since=at(1), until=at(3)) == [ids[2], ids[1]]
    assert await found(before_id=ids[3], limit=2) == [ids[2], ids[1]]
    assert await found(after_id=ids[1]) == [ids[2], ids[3], ids[4]]  # followers: oldest first
    assert await found(after_id=ids[1], limit=1) == [ids[2]]


async def test_audit_prefix_treats_like_wildcards_literally(store: SqlStore) -> None:
    await store.add_audit(entry(0, action="jobXtrigger"))
    await store.add_audit(entry(1, action="job_.run"))
    assert [e.action for e in await store.query_audit(AuditQuery(action="job_."))] == ["job_.run"]


# --- control -------------------------------------------------------------------------------------
async def test_control_defaults_when_never_set(store: SqlStore) -> None:
    assert await store.get_control() == ControlState()


async def test_control_round_trip_and_back_to_defaults(store: SqlStore) -> None:
    state = ControlState(
        paused=True,
        batch_size=7,
        max_concurrent_jobs=3,
        default_timeout_seconds=12.5,
        updated_at=at(1),
        updated_by="alice",
    )
    assert await store.set_control(state) == state
    assert await store.get_control() == state
    back = ControlState(updated_at=at(2), updated_by="bob")
    assert await store.set_control(back) == back
    # The defaults are kept with who set them.
    assert await store.get_control() == back


async def test_add_audits_writes_entries_in_order(store: SqlStore) -> None:
    first = await store.add_audit(entry(0))
    await store.add_audits([entry(1, action="job.create"), entry(2, action="job.update")])
    await store.add_audits([])
    got = await store.query_audit(AuditQuery(after_id=first))
    assert [(e.action, e.at) for e in got] == [("job.create", at(1)), ("job.update", at(2))]
    assert got[0].id < got[1].id

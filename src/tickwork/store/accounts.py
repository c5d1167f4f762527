"""Users and API tokens in SQL (Core, both dialects)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from tickwork.domain.access import ApiToken, Role, Scope, StoredSession, User
from tickwork.errors import ConflictError, NotFoundError
from tickwork.store.rows import TOKENS, USERS, columns
from tickwork.store.schema import sessions, tokens, users

_user = USERS.mapper()
_token = TOKENS.mapper()
_USER = sa.select(*columns(USERS))
# A token with its user's name (the mapper's extra column).
_TOKEN = sa.select(*columns(TOKENS), users.c.name.label("user_name")).join(
    users, users.c.id == tokens.c.user_id
)


# --- users -----------------------------------------------------------------------------------
def create_user(
    conn: Connection, name: str, password_hash: str | None, role: Role, now: datetime
) -> User:
    try:
        row = conn.execute(
            users.insert()
            .values(name=name, password_hash=password_hash, role=role.value, created_at=now)
            .returning(*columns(USERS))
        ).one()
    except sa.exc.IntegrityError:
        raise ConflictError(f"a user named {name!r} already exists") from None
    return _user(row)


def get_user(conn: Connection, name: str) -> User | None:
    row = conn.execute(_USER.where(users.c.name == name)).first()
    return None if row is None else _user(row)


def get_password_hash(conn: Connection, name: str) -> str | None:
    found: str | None = conn.execute(
        sa.select(users.c.password_hash).where(users.c.name == name, users.c.disabled_at.is_(None))
    ).scalar()
    return found


def set_password_hash(conn: Connection, name: str, password_hash: str) -> None:
    conn.execute(users.update().where(users.c.name == name).values(password_hash=password_hash))


def list_users(conn: Connection) -> list[User]:
    return [_user(r) for r in conn.execute(_USER.order_by(users.c.name))]


def count_users(conn: Connection) -> int:
    count = conn.execute(
        sa.select(sa.func.count()).select_from(users).where(users.c.disabled_at.is_(None))
    ).scalar()
    return int(count or 0)


def update_user(
    conn: Connection,
    name: str,
    role: Role | None,
    disabled_at: datetime | None,
    enable: bool,
) -> User | None:
    """``Store.update_user``."""
    changes: dict[str, Any] = {}
    if role is not None:
        changes["role"] = role.value
    if disabled_at is not None:
        changes["disabled_at"] = disabled_at
    elif enable:
        changes["disabled_at"] = None
    user_id = conn.execute(sa.select(users.c.id).where(users.c.name == name)).scalar()
    if user_id is None:
        return None
    if changes:
        conn.execute(users.update().where(users.c.id == user_id).values(**changes))
    if disabled_at is not None:
        # A disabled user's tokens die with it: re-enabling must not bring them back.
        conn.execute(
            tokens.update()
            .where(tokens.c.user_id == user_id, tokens.c.revoked_at.is_(None))
            .values(revoked_at=disabled_at)
        )
    return _user(conn.execute(_USER.where(users.c.id == user_id)).one())


# --- tokens ------------------------------------------------------------------------------------
def create_token(
    conn: Connection,
    user_id: int,
    name: str,
    scopes: frozenset[Scope],
    secret_hash: str,
    expires_at: datetime | None,
    now: datetime,
) -> ApiToken:
    user_name = conn.execute(sa.select(users.c.name).where(users.c.id == user_id)).scalar()
    if user_name is None:
        raise NotFoundError(f"no user with ID {user_id}")
    row = conn.execute(
        tokens.insert()
        .values(
            user_id=user_id,
            name=name,
            scopes=sorted(s.value for s in scopes),
            secret_hash=secret_hash,
            created_at=now,
            expires_at=expires_at,
        )
        .returning(*columns(TOKENS))
    ).one()
    return _token((*row, user_name))


def get_token(conn: Connection, token_id: int) -> tuple[ApiToken, str, User] | None:
    """A token with its secret hash and its user, for authentication."""
    row = conn.execute(
        _TOKEN.add_columns(tokens.c.secret_hash).where(tokens.c.id == token_id)
    ).first()
    if row is None:
        return None
    token = _token(row)
    user = conn.execute(_USER.where(users.c.id == token.user_id)).first()
    if user is None:
        return None
    return token, row.secret_hash, _user(user)


def list_tokens(conn: Connection, user_name: str | None) -> list[ApiToken]:
    query = _TOKEN.order_by(tokens.c.id)
    if user_name is not None:
        query = query.where(users.c.name == user_name)
    return [_token(r) for r in conn.execute(query)]


def revoke_token(conn: Connection, token_id: int, now: datetime) -> ApiToken | None:
    conn.execute(
        tokens.update()
        .where(tokens.c.id == token_id, tokens.c.revoked_at.is_(None))
        .values(revoked_at=now)
    )
    return _token_with_user(conn, token_id)


def touch_token(conn: Connection, token_id: int, now: datetime) -> None:
    conn.execute(tokens.update().where(tokens.c.id == token_id).values(last_used_at=now))


def _token_with_user(conn: Connection, token_id: int) -> ApiToken | None:
    row = conn.execute(_TOKEN.where(tokens.c.id == token_id)).first()
    return None if row is None else _token(row)


# --- dashboard sessions -----------------------------------------------------------------------
def create_session(conn: Connection, secret_hash: str, user_name: str, now: datetime) -> None:
    conn.execute(
        sessions.insert().values(
            secret_hash=secret_hash, user_name=user_name, created_at=now, last_seen_at=now
        )
    )


def get_session(conn: Connection, secret_hash: str) -> StoredSession | None:
    row = conn.execute(
        sa.select(sessions.c.user_name, sessions.c.created_at, sessions.c.last_seen_at).where(
            sessions.c.secret_hash == secret_hash
        )
    ).first()
    return None if row is None else StoredSession(*row)


def touch_session(conn: Connection, secret_hash: str, now: datetime) -> None:
    conn.execute(
        sessions.update().where(sessions.c.secret_hash == secret_hash).values(last_seen_at=now)
    )


def delete_sessions(
    conn: Connection,
    *,
    secret_hash: str | None = None,
    user_name: str | None = None,
    seen_before: datetime | None = None,
) -> int:
    """``Store.delete_sessions``."""
    query = sessions.delete()
    if secret_hash is not None:
        query = query.where(sessions.c.secret_hash == secret_hash)
    if user_name is not None:
        query = query.where(sessions.c.user_name == user_name)
    if seen_before is not None:
        query = query.where(sessions.c.last_seen_at < seen_before)
    return conn.execute(query).rowcount or 0

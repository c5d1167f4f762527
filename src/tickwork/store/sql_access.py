"""The access roles of the SQL store (``store.access``: ``Accounts``, ``AuditLog``): users, API
tokens, dashboard sessions and the audit log, each method one entity-module function in a
transaction. ``SqlStore`` is one; kept apart so the store's module stays one size to read."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from datetime import datetime

from tickwork.domain.access import (
    ApiToken,
    AuditEntry,
    AuditQuery,
    NewAuditEntry,
    Role,
    Scope,
    StoredSession,
    User,
)
from tickwork.store import accounts, audit
from tickwork.store.database import Database


class SqlAccess:
    """``Accounts`` and ``AuditLog`` over a ``Database``."""

    _db: Database

    # --- accounts -------------------------------------------------------------------------------
    async def create_user(
        self, name: str, password_hash: str | None, role: Role, now: datetime
    ) -> User:
        return await self._db.write(accounts.create_user, name, password_hash, role, now)

    async def get_user(self, name: str) -> User | None:
        return await self._db.read(accounts.get_user, name)

    async def get_password_hash(self, name: str) -> str | None:
        return await self._db.read(accounts.get_password_hash, name)

    async def set_password_hash(self, name: str, password_hash: str) -> None:
        await self._db.write(accounts.set_password_hash, name, password_hash)

    async def list_users(self) -> list[User]:
        return await self._db.read(accounts.list_users)

    async def count_users(self) -> int:
        return await self._db.read(accounts.count_users)

    async def update_user(
        self,
        name: str,
        *,
        role: Role | None = None,
        disabled_at: datetime | None = None,
        enable: bool = False,
    ) -> User | None:
        return await self._db.write(accounts.update_user, name, role, disabled_at, enable)

    async def create_token(
        self,
        user_id: int,
        name: str,
        scopes: frozenset[Scope],
        secret_hash: str,
        expires_at: datetime | None,
        now: datetime,
    ) -> ApiToken:
        return await self._db.write(
            accounts.create_token, user_id, name, scopes, secret_hash, expires_at, now
        )

    async def get_token(self, token_id: int) -> tuple[ApiToken, str, User] | None:
        return await self._db.read(accounts.get_token, token_id)

    async def list_tokens(self, user_name: str | None = None) -> list[ApiToken]:
        return await self._db.read(accounts.list_tokens, user_name)

    async def revoke_token(self, token_id: int, now: datetime) -> ApiToken | None:
        return await self._db.write(accounts.revoke_token, token_id, now)

    async def touch_token(self, token_id: int, now: datetime) -> None:
        await self._db.write(accounts.touch_token, token_id, now)

    async def create_session(self, secret_hash: str, user_name: str, now: datetime) -> None:
        await self._db.write(accounts.create_session, secret_hash, user_name, now)

    async def get_session(self, secret_hash: str) -> StoredSession | None:
        return await self._db.read(accounts.get_session, secret_hash)

    async def touch_session(self, secret_hash: str, now: datetime) -> None:
        await self._db.write(accounts.touch_session, secret_hash, now)

    async def delete_sessions(
        self,
        *,
        secret_hash: str | None = None,
        user_name: str | None = None,
        seen_before: datetime | None = None,
    ) -> int:
        if secret_hash is None and user_name is None and seen_before is None:
            raise ValueError("delete_sessions needs a condition")
        return await self._db.write(
            functools.partial(
                accounts.delete_sessions,
                secret_hash=secret_hash,
                user_name=user_name,
                seen_before=seen_before,
            )
        )

    # --- audit ------------------------------------------------------------------------------------
    async def add_audit(self, entry: NewAuditEntry) -> int:
        return await self._db.write(audit.add, entry)

    async def add_audits(self, entries: Sequence[NewAuditEntry]) -> None:
        if entries:
            await self._db.write(audit.add_many, entries)

    async def query_audit(self, query: AuditQuery) -> list[AuditEntry]:
        return await self._db.read(audit.query, query)

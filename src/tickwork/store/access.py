"""The store's access roles: users, API tokens and dashboard sessions (``Accounts``), and the
audit log (``AuditLog``); part of ``store.base.Store``. Docstrings are the contract, as there."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

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


class Accounts(Protocol):
    """Users and API tokens."""

    async def create_user(
        self, name: str, password_hash: str | None, role: Role, now: datetime
    ) -> User:
        """``ConflictError`` if the name is taken."""
        ...

    async def get_user(self, name: str) -> User | None: ...

    async def get_password_hash(self, name: str) -> str | None:
        """The stored hash of an enabled user's password; None if none or no such user."""
        ...

    async def set_password_hash(self, name: str, password_hash: str) -> None:
        """Store a rehashed password (argon2 parameters changed)."""
        ...

    async def list_users(self) -> list[User]: ...

    async def count_users(self) -> int:
        """Enabled users only."""
        ...

    async def update_user(
        self,
        name: str,
        *,
        role: Role | None = None,
        disabled_at: datetime | None = None,
        enable: bool = False,
    ) -> User | None:
        """Change a user's role, disable it (``disabled_at``) or re-enable it; disabling also
        revokes its tokens in the same transaction. None if no such user."""
        ...

    async def create_token(
        self,
        user_id: int,
        name: str,
        scopes: frozenset[Scope],
        secret_hash: str,
        expires_at: datetime | None,
        now: datetime,
    ) -> ApiToken: ...

    async def get_token(self, token_id: int) -> tuple[ApiToken, str, User] | None:
        """A token with its secret hash and its user, for authentication."""
        ...

    async def list_tokens(self, user_name: str | None = None) -> list[ApiToken]: ...

    async def revoke_token(self, token_id: int, now: datetime) -> ApiToken | None:
        """Revoke (idempotent: an already revoked token keeps its time); None if no such."""
        ...

    async def touch_token(self, token_id: int, now: datetime) -> None:
        """Record that a token was used now."""
        ...

    async def create_session(self, secret_hash: str, user_name: str, now: datetime) -> None: ...

    async def get_session(self, secret_hash: str) -> StoredSession | None: ...

    async def touch_session(self, secret_hash: str, now: datetime) -> None: ...

    async def delete_sessions(
        self,
        *,
        secret_hash: str | None = None,
        user_name: str | None = None,
        seen_before: datetime | None = None,
    ) -> int:
        """Delete the sessions matching every given condition (at least one is given)."""
        ...


class AuditLog(Protocol):
    """The audit log."""

    async def add_audit(self, entry: NewAuditEntry) -> int: ...

    async def add_audits(self, entries: Sequence[NewAuditEntry]) -> None:
        """Add entries in one transaction, their IDs ascending in the given order."""
        ...

    async def query_audit(self, query: AuditQuery) -> list[AuditEntry]:
        """Newest first, or oldest first when ``after_id`` is given."""
        ...

"""Users and API tokens: creating them, checking credentials, revoking (F1).

Passwords are hashed with argon2id; a token is ``tw_<id>_<secret>`` whose secret (256 random
bits) is stored as SHA-256 and compared in constant time. Every change goes to the audit log.
"""

from __future__ import annotations

from datetime import datetime

from tickwork.domain.access import ApiToken, Principal, Role, Scope, User
from tickwork.runtime.clock import Clock, SystemClock
from tickwork.store.base import Store

TOKEN_PREFIX = "tw_"


class Accounts:
    """Use cases over users and tokens; ``actor`` is who acts (for the audit log)."""

    def __init__(self, store: Store, *, clock: Clock | None = None) -> None:
        self.store = store
        self.clock = clock or SystemClock()

    async def create_user(
        self, name: str, role: Role, password: str | None, *, actor: Principal
    ) -> User:
        """``ConflictError`` if taken; ``ConfigError`` for a bad name or a password shorter
        than 12 characters."""
        raise NotImplementedError

    async def list_users(self) -> list[User]:
        raise NotImplementedError

    async def get_user(self, name: str) -> User:
        """``NotFoundError`` if absent."""
        raise NotImplementedError

    async def update_user(
        self, name: str, *, role: Role | None, disabled: bool | None, actor: Principal
    ) -> User:
        raise NotImplementedError

    async def has_users(self) -> bool:
        """Whether any enabled user exists (without users the API is local-only and open)."""
        raise NotImplementedError

    async def check_password(self, name: str, password: str) -> Principal:
        """The user's principal (all its role's scopes), or ``AuthError``; constant work
        whether or not the user exists."""
        raise NotImplementedError

    async def create_token(
        self,
        user_name: str,
        name: str,
        scopes: frozenset[Scope],
        expires_at: datetime | None,
        *,
        actor: Principal,
    ) -> tuple[ApiToken, str]:
        """The token and its secret string (shown once). ``ConfigError`` if a scope exceeds
        the user's role or the expiry is not in the future."""
        raise NotImplementedError

    async def list_tokens(self, user_name: str | None = None) -> list[ApiToken]:
        raise NotImplementedError

    async def revoke_token(self, token_id: int, *, actor: Principal) -> ApiToken:
        """Takes effect at once: the next request with it gets 401."""
        raise NotImplementedError

    async def authenticate(self, bearer: str) -> Principal:
        """The principal of a bearer token, or ``AuthError`` (malformed, unknown, wrong secret,
        expired, revoked, or its user disabled). Records the token's last use (at most once a
        minute per token, to keep requests read-only)."""
        raise NotImplementedError

"""Users and API tokens: creating them, checking credentials, revoking (F1).

Passwords are hashed with argon2id; a token is ``tw_<id>_<secret>`` whose secret (256 random
bits) is stored as SHA-256 and compared in constant time. Every change goes to the audit log.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import re
import secrets
from datetime import datetime
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from tickwork.domain.access import (
    ROLE_SCOPES,
    ApiToken,
    Principal,
    Role,
    Scope,
    User,
    effective_scopes,
)
from tickwork.domain.tasks import validate_name
from tickwork.errors import (
    AuthError,
    ConfigError,
    InvalidStateError,
    NotFoundError,
    StoreError,
)
from tickwork.service import audit
from tickwork.service.context import Context

log = logging.getLogger("tickwork.accounts")

TOKEN_PREFIX = "tw_"
MIN_PASSWORD_LENGTH = 12
# Long enough for any passphrase, short enough that hashing one is not a denial of service.
MAX_PASSWORD_LENGTH = 1024
MAX_TOKEN_NAME_LENGTH = 200
# A token's last use is written at most this often, so authenticated reads stay reads.
TOUCH_EVERY_SECONDS = 60.0
_TOKEN = re.compile(rf"{TOKEN_PREFIX}([0-9]{{1,18}})_([A-Za-z0-9_\-]{{16,128}})")
# Verified when a user does not exist, so a login takes as long whether or not the name does.
_DUMMY_PASSWORD = "tickwork: no such user"
BAD_LOGIN = "wrong user name or password"
BAD_TOKEN = "invalid token"


def secret_hash(secret: str) -> str:
    """How a token's secret is stored: 256 random bits need no slow hash."""
    return hashlib.sha256(secret.encode()).hexdigest()


def principal_of(user: User) -> Principal:
    return Principal(name=user.name, scopes=ROLE_SCOPES[user.role], role=user.role)


class Accounts:
    """Use cases over users and tokens; ``actor`` is who acts (for the audit log)."""

    def __init__(self, ctx: Context, *, hasher: PasswordHasher | None = None) -> None:
        self.store = ctx.store
        self.clock = ctx.clock
        # argon2id with the library's recommended parameters unless given (tests pass cheap ones).
        self.hasher = hasher or PasswordHasher()
        self._dummy_hash: str | None = None
        self._touched: dict[int, datetime] = {}

    async def _record(
        self,
        actor: Principal,
        action: str,
        target_type: str,
        target: str,
        before: dict[str, Any] | None = None,
        after: dict[str, Any] | None = None,
    ) -> None:
        await audit.record(
            self.store, self.clock, actor, action, target_type, target, before=before, after=after
        )

    # --- users -------------------------------------------------------------------------------
    async def create_user(
        self, name: str, role: Role, password: str | None, *, actor: Principal
    ) -> User:
        """``ConflictError`` if taken; ``ConfigError`` for a bad name or a password shorter
        than 12 characters."""
        validate_name(name)
        password_hash = None
        if password is not None:
            check_password_rules(password)
            password_hash = await asyncio.to_thread(self.hasher.hash, password)
        user = await self.store.create_user(name, password_hash, role, self.clock.now())
        await self._record(
            actor,
            "user.create",
            "user",
            name,
            after={"role": role.value, "password": password is not None},
        )
        return user

    async def list_users(self) -> list[User]:
        return await self.store.list_users()

    async def get_user(self, name: str) -> User:
        """``NotFoundError`` if absent."""
        user = await self.store.get_user(name)
        if user is None:
            raise NotFoundError(f"no user named {name!r}")
        return user

    async def update_user(
        self, name: str, *, role: Role | None, disabled: bool | None, actor: Principal
    ) -> User:
        """Change a user's role and/or disable or re-enable it. Disabling revokes its tokens
        and ends its dashboard sessions (re-enabling brings back neither). ``NotFoundError``
        if absent."""
        old = await self.get_user(name)
        before: dict[str, Any] = {}
        after: dict[str, Any] = {}
        if role is not None and role is not old.role:
            before["role"], after["role"] = old.role.value, role.value
        was_disabled = old.disabled_at is not None
        if disabled is not None and disabled != was_disabled:
            before["disabled"], after["disabled"] = was_disabled, disabled
        if not after:
            return old  # nothing changes: nothing to write or audit
        updated = await self.store.update_user(
            name,
            role=role if "role" in after else None,
            disabled_at=self.clock.now() if after.get("disabled") is True else None,
            enable=after.get("disabled") is False,
        )
        if updated is None:  # removed in between
            raise NotFoundError(f"no user named {name!r}")
        if after.get("disabled") is True:
            await self.store.delete_sessions(user_name=name)
        await self._record(actor, "user.update", "user", name, before, after)
        return updated

    async def has_users(self) -> bool:
        """Whether any enabled user exists (without users the API is local-only and open)."""
        return await self.store.count_users() > 0

    async def check_password(self, name: str, password: str) -> Principal:
        """The user's principal (all its role's scopes), or ``AuthError``; constant work
        whether or not the user exists."""
        stored = await self.store.get_password_hash(name)
        if stored is None or len(password) > MAX_PASSWORD_LENGTH:
            # Same argon2 work as a real check, so the answer's timing does not tell names.
            await asyncio.to_thread(self._verify, await self._dummy(), password)
            raise AuthError(BAD_LOGIN)
        if not await asyncio.to_thread(self._verify, stored, password):
            raise AuthError(BAD_LOGIN)
        if self.hasher.check_needs_rehash(stored):
            # The hash parameters changed since this one was made: upgrade it now that the
            # password is known.
            await self.store.set_password_hash(
                name, await asyncio.to_thread(self.hasher.hash, password)
            )
        user = await self.store.get_user(name)
        if user is None or user.disabled_at is not None:  # disabled in between
            raise AuthError(BAD_LOGIN)
        return principal_of(user)

    def _verify(self, stored: str, password: str) -> bool:
        try:
            return self.hasher.verify(stored, password)
        except (VerificationError, InvalidHashError):
            return False

    async def _dummy(self) -> str:
        if self._dummy_hash is None:
            self._dummy_hash = await asyncio.to_thread(self.hasher.hash, _DUMMY_PASSWORD)
        return self._dummy_hash

    # --- tokens ------------------------------------------------------------------------------
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
        name = name.strip()
        if not name or len(name) > MAX_TOKEN_NAME_LENGTH:
            raise ConfigError(
                f"must be 1 to {MAX_TOKEN_NAME_LENGTH} characters, got {name!r}", field="name"
            )
        if not scopes:
            raise ConfigError("give at least one scope", field="scopes")
        user = await self.get_user(user_name)
        if user.disabled_at is not None:
            raise InvalidStateError(f"user {user_name!r} is disabled")
        beyond = scopes - ROLE_SCOPES[user.role]
        if beyond:
            names = ", ".join(sorted(s.value for s in beyond))
            raise ConfigError(
                f"user {user_name!r} (role {user.role.value}) may not hold {names}",
                field="scopes",
            )
        now = self.clock.now()
        if expires_at is not None:
            if expires_at.tzinfo is None:
                raise ConfigError(
                    f"time {expires_at.isoformat()} has no UTC offset", field="expires_at"
                )
            if expires_at <= now:
                raise ConfigError(
                    f"{expires_at.isoformat()} is not in the future", field="expires_at"
                )
        secret = secrets.token_urlsafe(32)
        token = await self.store.create_token(
            user.id, name, scopes, secret_hash(secret), expires_at, now
        )
        await self._record(
            actor,
            "token.create",
            "token",
            str(token.id),
            after={
                "user": user.name,
                "name": name,
                "scopes": sorted(s.value for s in scopes),
                "expires_at": expires_at.isoformat() if expires_at else None,
            },
        )
        return token, f"{TOKEN_PREFIX}{token.id}_{secret}"

    async def list_tokens(self, user_name: str | None = None) -> list[ApiToken]:
        if user_name is not None:
            await self.get_user(user_name)  # an unknown name is an error, not an empty list
        return await self.store.list_tokens(user_name)

    async def revoke_token(
        self, token_id: int, *, actor: Principal, owner: str | None = None
    ) -> ApiToken:
        """Takes effect at once: the next request with it gets 401. ``owner``: only a token of
        this user (someone managing their own tokens); another's is ``NotFoundError`` too."""
        found = await self.store.get_token(token_id)
        if found is None or (owner is not None and found[0].user_name != owner):
            raise NotFoundError(f"no token with ID {token_id}")
        token = await self.store.revoke_token(token_id, self.clock.now())
        if token is None:
            raise NotFoundError(f"no token with ID {token_id}")
        if found[0].revoked_at is None:  # revoking twice changes nothing: one entry
            await self._record(
                actor,
                "token.revoke",
                "token",
                str(token_id),
                before={"revoked_at": None},
                after={"revoked_at": token.revoked_at.isoformat() if token.revoked_at else None},
            )
        self._touched.pop(token_id, None)
        return token

    async def authenticate(self, bearer: str) -> Principal:
        """The principal of a bearer token, or ``AuthError`` (malformed, unknown, wrong secret,
        expired, revoked, or its user disabled). Records the token's last use (at most once a
        minute per token, to keep requests read-only)."""
        match = _TOKEN.fullmatch(bearer)
        if match is None:
            raise AuthError(f"{BAD_TOKEN}: expected {TOKEN_PREFIX}<id>_<secret>")
        token_id, secret = int(match[1]), match[2]
        found = await self.store.get_token(token_id)
        if found is None:
            raise AuthError(BAD_TOKEN)
        token, stored_hash, user = found
        if not hmac.compare_digest(secret_hash(secret).encode(), stored_hash.encode()):
            raise AuthError(BAD_TOKEN)
        # Only a holder of the secret gets here, so the reasons below may be told.
        now = self.clock.now()
        if token.revoked_at is not None:
            raise AuthError(f"{BAD_TOKEN}: revoked")
        if token.expires_at is not None and now >= token.expires_at:
            raise AuthError(f"{BAD_TOKEN}: expired")
        if user.disabled_at is not None:
            raise AuthError(f"{BAD_TOKEN}: its user is disabled")
        await self._touch(token_id, now)
        return Principal(
            name=user.name,
            scopes=effective_scopes(user.role, token.scopes),
            role=user.role,
            token_id=token_id,
        )

    async def _touch(self, token_id: int, now: datetime) -> None:
        last = self._touched.get(token_id)
        if last is not None and (now - last).total_seconds() < TOUCH_EVERY_SECONDS:
            return
        self._touched[token_id] = now
        try:
            await self.store.touch_token(token_id, now)
        except StoreError as exc:  # the last-use time is a hint; the request may go on
            log.warning("could not record the use of token %s: %s", token_id, exc)


def check_password_rules(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ConfigError(
            f"must be at least {MIN_PASSWORD_LENGTH} characters, got {len(password)}",
            field="password",
        )
    if len(password) > MAX_PASSWORD_LENGTH:
        raise ConfigError(
            f"must be at most {MAX_PASSWORD_LENGTH} characters, got {len(password)}",
            field="password",
        )

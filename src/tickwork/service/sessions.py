"""Dashboard sessions (F1): log in with a user's password, keep a session in a cookie, log out.

The cookie carries ``tws_<secret>`` (256 random bits); the store keeps only its SHA-256, so a
copy of the database opens no session. A session ends after ``idle_seconds`` without a request
or ``max_age_seconds`` after the login, whichever comes first, and at once when its user is
disabled or loses its password. The CSRF token of a session is derived from its secret (an
HMAC), so it needs no storage and cannot be guessed without the cookie.

Without users a dashboard served on a loopback address is open, like the API: the adapter then
gives each browser a *local* session, which is only a cookie (nothing is stored, so a script
that polls the page fills no table) whose HMAC is the CSRF token: every state change still
needs a value that only that browser can read.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import secrets
from dataclasses import dataclass
from datetime import timedelta

from tickwork.domain.access import LOCAL, Principal
from tickwork.errors import AuthError, StoreError
from tickwork.service import audit
from tickwork.service.accounts import Accounts, principal_of, secret_hash
from tickwork.service.context import Context

log = logging.getLogger("tickwork.accounts")

SESSION_PREFIX = "tws_"
_SESSION = re.compile(rf"{SESSION_PREFIX}([A-Za-z0-9_\-]{{43}})")
DEFAULT_IDLE_SECONDS = 2 * 3600.0
DEFAULT_MAX_AGE_SECONDS = 24 * 3600.0
# A session's last request is written at most this often, so page views stay reads.
TOUCH_EVERY_SECONDS = 60.0


@dataclass(frozen=True)
class Session:
    """An open session: who it acts for and the CSRF token its forms must carry."""

    principal: Principal
    user_name: str | None  # None: the local session of a dashboard without users
    csrf: str

    def csrf_matches(self, given: str | None) -> bool:
        return given is not None and hmac.compare_digest(given.encode(), self.csrf.encode())


def new_secret() -> str:
    return SESSION_PREFIX + secrets.token_urlsafe(32)


def csrf_of(secret: str) -> str:
    return hmac.new(secret.encode(), b"tickwork-csrf", hashlib.sha256).hexdigest()


class Sessions:
    def __init__(
        self,
        ctx: Context,
        accounts: Accounts,
        *,
        idle_seconds: float = DEFAULT_IDLE_SECONDS,
        max_age_seconds: float = DEFAULT_MAX_AGE_SECONDS,
    ) -> None:
        self.ctx = ctx
        self.accounts = accounts
        self.idle = timedelta(seconds=idle_seconds)
        self.max_age = timedelta(seconds=max_age_seconds)

    async def login(self, name: str, password: str) -> tuple[str, Session]:
        """A new session of the user ``name`` (its cookie value and the session), or
        ``AuthError`` with one message for every wrong name or password. Audited."""
        try:
            principal = await self.accounts.check_password(name, password)
        except AuthError:
            log.warning("dashboard login refused for user %r", name[:200])
            raise
        cookie = await self._open(principal.name)
        await audit.record(
            self.ctx.store, self.ctx.clock, principal, "session.login", "user", principal.name
        )
        return cookie, Session(principal, principal.name, csrf_of(cookie))

    def local(self, cookie: str | None) -> tuple[str | None, Session]:
        """The local operator's session of a cookie's value, with a new cookie (returned
        first) when it has none of the right form; the caller checks that the dashboard may
        be open (no users, loopback address)."""
        fresh = None
        if cookie is None or _SESSION.fullmatch(cookie) is None:
            cookie = fresh = new_secret()
        return fresh, Session(LOCAL, None, csrf_of(cookie))

    async def _open(self, user_name: str) -> str:
        now = self.ctx.clock.now()
        # Forgotten sessions go when someone logs in: the table stays as small as its users.
        await self.ctx.store.delete_sessions(seen_before=now - self.idle)
        secret = new_secret()
        await self.ctx.store.create_session(secret_hash(secret), user_name, now)
        return secret

    async def resolve(self, cookie: str | None) -> Session | None:
        """The open session of a cookie's value; None when there is none, it expired, or its
        user was disabled or removed."""
        if cookie is None or _SESSION.fullmatch(cookie) is None:
            return None
        digest = secret_hash(cookie)
        stored = await self.ctx.store.get_session(digest)
        if stored is None:
            return None
        now = self.ctx.clock.now()
        if now - stored.last_seen_at >= self.idle or now - stored.created_at >= self.max_age:
            await self.ctx.store.delete_sessions(secret_hash=digest)
            return None
        user = await self.ctx.store.get_user(stored.user_name)
        if user is None or user.disabled_at is not None:
            return None
        if (now - stored.last_seen_at).total_seconds() >= TOUCH_EVERY_SECONDS:
            try:
                await self.ctx.store.touch_session(digest, now)
            except StoreError as exc:  # the idle clock restarts a little early, no more
                log.warning("could not record a session's use: %s", exc)
        return Session(principal_of(user), stored.user_name, csrf_of(cookie))

    async def logout(self, cookie: str | None) -> None:
        """End the session of a cookie's value (nothing when there is none)."""
        if cookie is None or _SESSION.fullmatch(cookie) is None:
            return
        digest = secret_hash(cookie)
        stored = await self.ctx.store.get_session(digest)
        await self.ctx.store.delete_sessions(secret_hash=digest)
        if stored is not None:
            actor = Principal(name=stored.user_name, scopes=frozenset())
            await audit.record(
                self.ctx.store, self.ctx.clock, actor, "session.logout", "user", stored.user_name
            )

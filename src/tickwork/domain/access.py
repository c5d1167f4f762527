"""Who may do what: roles, token scopes, users, API tokens, the audit trail's entries."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from tickwork.errors import ConfigError


class Role(StrEnum):
    ADMIN = "admin"  # everything, including users and tokens
    OPERATOR = "operator"  # reads, plus trigger/enqueue/cancel/enable/disable and control
    READ_ONLY = "read_only"  # reads only


class Scope(StrEnum):
    """What a token may do; a token never exceeds its user's role (``ROLE_SCOPES``)."""

    JOBS_READ = "jobs:read"  # jobs, queue, runs, stats, insights, status, events
    JOBS_TRIGGER = "jobs:trigger"  # trigger, enqueue, cancel, reschedule, enable/disable
    JOBS_WRITE = "jobs:write"  # create, update, delete, pause and resume job definitions
    PROCESSOR = "processor:control"  # start/stop/trigger processing, reset stuck, run-time config
    AUDIT_READ = "audit:read"  # the audit log and schedule-change history
    ADMIN = "admin"  # users and tokens


ROLE_SCOPES: dict[Role, frozenset[Scope]] = {
    Role.ADMIN: frozenset(Scope),
    Role.OPERATOR: frozenset(
        {Scope.JOBS_READ, Scope.JOBS_TRIGGER, Scope.PROCESSOR, Scope.AUDIT_READ}
    ),
    Role.READ_ONLY: frozenset({Scope.JOBS_READ, Scope.AUDIT_READ}),
}


def parse_role(value: str) -> Role:
    try:
        return Role(value)
    except ValueError:
        choices = ", ".join(r.value for r in Role)
        raise ConfigError(f"unknown role {value!r}; roles are {choices}", field="role") from None


def parse_scopes(values: list[str] | tuple[str, ...]) -> frozenset[Scope]:
    scopes: set[Scope] = set()
    for value in values:
        try:
            scopes.add(Scope(value))
        except ValueError:
            choices = ", ".join(s.value for s in Scope)
            raise ConfigError(
                f"unknown scope {value!r}; scopes are {choices}", field="scopes"
            ) from None
    if not scopes:
        raise ConfigError("give at least one scope", field="scopes")
    return frozenset(scopes)


@dataclass(frozen=True)
class User:
    id: int
    name: str
    role: Role
    created_at: datetime
    disabled_at: datetime | None = None


@dataclass(frozen=True)
class ApiToken:
    """A token's public facts; its secret is shown once at creation and stored only hashed."""

    id: int
    user_id: int
    user_name: str
    name: str
    scopes: frozenset[Scope]
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    last_used_at: datetime | None

    def usable(self, now: datetime) -> bool:
        if self.revoked_at is not None:
            return False
        return self.expires_at is None or now < self.expires_at


@dataclass(frozen=True)
class StoredSession:
    """A dashboard session as stored: whose, since when, last seen when. The cookie's secret is
    stored only hashed."""

    user_name: str
    created_at: datetime
    last_seen_at: datetime


@dataclass(frozen=True)
class Principal:
    """Whoever makes a request: a user through a token, the local operator, or a shared
    secret (webhook / trigger bearer)."""

    name: str  # shown in the audit log: a user name, "local" or "webhook"
    scopes: frozenset[Scope]
    role: Role | None = None
    token_id: int | None = None
    # tickwork's own processes and producers in code (``processor:<id>``, ``app:<id>``):
    # audited by name, but the jobs they queue were asked for by nobody in particular.
    automated: bool = False

    def allows(self, scope: Scope) -> bool:
        return Scope.ADMIN in self.scopes or scope in self.scopes

    @property
    def requester(self) -> str | None:
        """Who a job this principal queues was requested by (a user, ``cli:<user>``, a shared
        secret's name, ``local``); None for an automated one."""
        return None if self.automated else self.name


def effective_scopes(role: Role, token_scopes: frozenset[Scope]) -> frozenset[Scope]:
    """A token's scopes cut down to what its user's role allows (``admin`` implies all)."""
    allowed = ROLE_SCOPES[role]
    wanted = frozenset(Scope) if Scope.ADMIN in token_scopes else token_scopes
    return wanted & allowed


# The principal of commands run on the machine itself (CLI) and of an API without users.
LOCAL = Principal(name="local", scopes=frozenset(Scope), role=Role.ADMIN)


def processor_principal(processor_id: str) -> Principal:
    """Who a tickwork process's own changes are by (its start-up sync of the definitions):
    ``processor:<id>``, the ID of ``tickwork status``."""
    return Principal(name=f"processor:{processor_id}", scopes=frozenset(), automated=True)


@dataclass(frozen=True)
class NewAuditEntry:
    actor: str
    action: str  # e.g. "job.create", "job.update", "job.trigger", "token.revoke"
    target_type: str  # "job", "queue_job", "user", "token", "processor", "config"
    target: str
    at: datetime
    before: dict[str, Any] | None = None
    after: dict[str, Any] | None = None
    request_id: str | None = None


@dataclass(frozen=True)
class AuditEntry(NewAuditEntry):
    id: int = 0


@dataclass(frozen=True)
class AuditQuery:
    actor: str | None = None
    action: str | None = None  # exact, or a prefix ending in "." (e.g. "job.")
    target_type: str | None = None
    target: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    before_id: int | None = None  # cursor: entries with a smaller id (newest first)
    after_id: int | None = None  # cursor for followers: entries with a larger id (oldest first)
    limit: int = 100

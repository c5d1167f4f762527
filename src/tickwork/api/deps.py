"""What every route needs: the shared context, who the caller is, the use cases acting for
them, and the check that the query holds only parameters the route takes. Routes declare one
scope with ``Depends(require(Scope.X))`` (``Reader``, ``Writer``... below); nothing else checks
permissions."""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Annotated

from fastapi import Depends, Request
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute

from tickwork.api.errors import BEARER_CHALLENGE, ApiError
from tickwork.api.metrics import Exposition
from tickwork.clock import Clock, SystemClock
from tickwork.config.api import ApiSettings
from tickwork.domain.access import LOCAL, Principal, Scope
from tickwork.domain.metrics import DurationRecorder
from tickwork.domain.processors import DEFAULT_HEARTBEAT_SECONDS
from tickwork.errors import AuthError, ForbiddenError
from tickwork.service.accounts import Accounts
from tickwork.service.analytics import Analytics
from tickwork.service.context import Context
from tickwork.service.control import Control
from tickwork.service.events import EventFeed
from tickwork.service.facade import Service
from tickwork.service.metrics import Metrics

# Principals of the shared secrets: they may only trigger.
WEBHOOK = Principal(name="webhook", scopes=frozenset({Scope.JOBS_TRIGGER}))
TRIGGER_SECRET = Principal(name="trigger-secret", scopes=frozenset({Scope.JOBS_TRIGGER}))


@dataclass
class ApiContext:
    """Everything the routes of one API process share (``app.state.ctx``).

    ``events`` is the process's event feed (``tickwork.service.events``), which polls the store
    only while a client listens; each event stream is one of its subscribers. ``notify`` wakes
    this process's worker, when it runs one, after work was queued by hand
    (``POST /api/cron/trigger``).
    """

    service: Service
    accounts: Accounts
    control: Control
    analytics: Analytics
    metrics: Metrics
    settings: ApiSettings
    events: EventFeed | None = None
    notify: Callable[[], None] | None = None
    clock: Clock = field(default_factory=SystemClock)
    heartbeat_interval_seconds: float = DEFAULT_HEARTBEAT_SECONDS
    # Without users every request is LOCAL; only ever true when bound to a loopback address,
    # so disabling the last user of a public server cannot open it to everyone.
    allow_local: bool = True
    # How long an event stream may stay silent before it sends a heartbeat comment (and
    # re-checks the caller's credentials).
    event_heartbeat_seconds: float = 15.0
    # /metrics as text, the cluster's part kept for as long as its snapshot.
    exposition: Exposition = field(default_factory=Exposition)

    @classmethod
    def build(
        cls,
        core: Context,
        settings: ApiSettings,
        *,
        events: EventFeed | None = None,
        claim_durations: DurationRecorder | None = None,
    ) -> ApiContext:
        """The API's use cases over the use-case context ``core`` (composed by the launcher,
        with ``api_job_kinds`` from ``settings``), and the process's event feed (one is made
        when none is given). ``claim_durations``: this process's worker's, for ``/metrics``."""
        return cls(
            service=Service(core),
            accounts=Accounts(core),
            control=Control(core),
            analytics=Analytics(core),
            metrics=Metrics(core, claim_durations),
            settings=settings,
            events=events or EventFeed(core),
            notify=core.on_enqueue,
            clock=core.clock,
            heartbeat_interval_seconds=core.heartbeat_interval_seconds,
            allow_local=settings.loopback_only,
        )


def get_context(request: Request) -> ApiContext:
    ctx: ApiContext = request.app.state.ctx
    return ctx


def request_id_of(request: Request) -> str | None:
    return getattr(request.state, "request_id", None)


def bearer_of(request: Request) -> str | None:
    """The credential of ``Authorization: Bearer <credential>``; None without the header."""
    header = request.headers.get("authorization")
    if header is None:
        return None
    scheme, _, credential = header.strip().partition(" ")
    if scheme.lower() != "bearer" or not credential.strip():
        raise ApiError(
            401,
            "unauthorized",
            "expected 'Authorization: Bearer <token>'",
            headers=BEARER_CHALLENGE,
        )
    return credential.strip()


def secret_matches(given: str | None, expected: str | None) -> bool:
    """Constant-time comparison of a shared secret; never matches when none is configured."""
    if not given or not expected:
        return False
    return hmac.compare_digest(given.encode(), expected.encode())


async def authenticate(request: Request, *, trigger_secret: bool = False) -> Principal:
    """Who makes ``request``: a token's user, the trigger secret's principal (only where
    ``trigger_secret``), or LOCAL when there are no users; ``AuthError`` otherwise."""
    cached: Principal | None = getattr(request.state, "principal", None)
    if cached is not None:
        return cached
    ctx = get_context(request)
    credential = bearer_of(request)
    if credential is None:
        if ctx.allow_local and not await ctx.accounts.has_users():
            principal = LOCAL
        else:
            raise AuthError("authentication required: send 'Authorization: Bearer <token>'")
    elif trigger_secret and secret_matches(credential, ctx.settings.trigger_secret):
        principal = TRIGGER_SECRET
    else:
        principal = await ctx.accounts.authenticate(credential)
    request.state.principal = principal
    return principal


def require(
    scope: Scope, *, trigger_secret: bool = False
) -> Callable[[Request], Awaitable[Principal]]:
    """A dependency: the caller's principal, which must allow ``scope`` (401 without valid
    credentials, 403 when they do not allow it). ``trigger_secret``: the ``[api]
    trigger_secret`` is accepted as a bearer token too (trigger routes only)."""

    async def dependency(request: Request) -> Principal:
        principal = await authenticate(request, trigger_secret=trigger_secret)
        if not principal.allows(scope):
            raise ForbiddenError(f"{principal.name!r} lacks the scope {scope.value!r}")
        return principal

    return dependency


# The caller of a route that needs one scope, named for what the scope lets them do.
Reader = Annotated[Principal, Depends(require(Scope.JOBS_READ))]
Triggerer = Annotated[Principal, Depends(require(Scope.JOBS_TRIGGER))]
Writer = Annotated[Principal, Depends(require(Scope.JOBS_WRITE))]
Controller = Annotated[Principal, Depends(require(Scope.PROCESSOR))]
Auditor = Annotated[Principal, Depends(require(Scope.AUDIT_READ))]
Admin = Annotated[Principal, Depends(require(Scope.ADMIN))]


def service_for(request: Request, principal: Principal) -> Service:
    """The service acting for ``principal`` in this request (its audit entries name both)."""
    return get_context(request).service.as_actor(principal, request_id_of(request))


def known_query_only(request: Request) -> None:
    """A dependency of every route (``create_app``): a query parameter that the route does not
    take is a 422 naming it, rather than ignored (``?n=3`` where the route takes ``count``)."""
    if not request.query_params:
        return
    route = request.scope.get("route")
    taken = query_names(route.dependant) if isinstance(route, APIRoute) else frozenset()
    unknown = sorted(set(request.query_params) - taken)
    if unknown:
        known = f"it takes {', '.join(sorted(taken))}" if taken else "it takes none"
        raise ApiError(
            422,
            "invalid",
            f"unknown query parameter {unknown[0]!r} ({known})",
            field=unknown[0],
        )


def query_names(dependant: Dependant) -> frozenset[str]:
    """The query parameters (as callers write them) of a route and its dependencies."""
    names = {param.alias for param in dependant.query_params}
    for sub in dependant.dependencies:
        names |= query_names(sub)
    return frozenset(names)

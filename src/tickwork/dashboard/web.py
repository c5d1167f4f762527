"""What every dashboard page needs: who is looking (the session behind the cookie), the checks
of a state-changing request (CSRF token, same origin, scope), the form it sent, and rendering
a template with the frame around it.

A page module declares its routes on its own ``APIRouter`` and takes ``Looker`` (GET) or
``actor(Scope.X)`` (POST) as a dependency; nothing else checks sessions or permissions.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import parse_qs, urlsplit

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from tickwork.api.deps import ApiContext, get_context
from tickwork.domain.access import Principal, Scope
from tickwork.errors import ConfigError, ForbiddenError
from tickwork.service.sessions import Session, Sessions
from tickwork.version import __version__

HERE = Path(__file__).parent
TEMPLATES = HERE / "templates"
STATIC = HERE / "static"
SESSION_COOKIE = "tw_session"
CSRF_FIELD = "csrf"
CSRF_HEADER = "x-csrf-token"
# A form larger than this is refused before it is parsed (no page posts more than a schedule).
MAX_FORM_BYTES = 64 * 1024


class LoginRequired(Exception):
    """No open session: pages redirect to the login form, actions answer 401."""


@dataclass(frozen=True)
class Looker:
    """Who looks at a page: their principal and the CSRF token their forms carry."""

    session: Session

    @property
    def principal(self) -> Principal:
        return self.session.principal

    @property
    def csrf(self) -> str:
        return self.session.csrf

    @property
    def name(self) -> str:
        return self.session.user_name or "local"

    def can(self, scope: str | Scope) -> bool:
        return self.principal.allows(Scope(scope))


def sessions_of(request: Request) -> Sessions:
    sessions: Sessions = request.app.state.sessions
    return sessions


async def looker(request: Request) -> Looker:
    """The session of the request's cookie; without one, a local session when the dashboard
    may be open (no users, loopback address), else ``LoginRequired``."""
    cached: Looker | None = getattr(request.state, "looker", None)
    if cached is not None:
        return cached
    ctx = get_context(request)
    sessions = sessions_of(request)
    session = await sessions.resolve(request.cookies.get(SESSION_COOKIE))
    if session is None:
        if not (ctx.allow_local and not await ctx.accounts.has_users()):
            raise LoginRequired()
        cookie, session = sessions.local(request.cookies.get(SESSION_COOKIE))
        if cookie is not None:
            request.state.new_session = cookie  # set by ``render`` on the response
    found = Looker(session)
    request.state.looker = found
    request.state.principal = found.principal  # the API's routes see the same caller
    return found


LookerDep = Annotated[Looker, Depends(looker)]


def same_origin(request: Request) -> bool:
    """Whether a state-changing request comes from a page of this server: its ``Origin`` (or
    else ``Referer``) names this host. Browsers send one of them with every form POST."""
    source = request.headers.get("origin") or request.headers.get("referer")
    if not source:
        return False
    host = request.headers.get("host", "")
    return urlsplit(source).netloc == host


async def form_of(request: Request) -> dict[str, str]:
    """The request's URL-encoded form (the last value of each field), parsed once."""
    cached: dict[str, str] | None = getattr(request.state, "form", None)
    if cached is not None:
        return cached
    body = await request.body()
    if len(body) > MAX_FORM_BYTES:
        raise ConfigError(f"the form is larger than {MAX_FORM_BYTES // 1024} KiB")
    try:
        text = body.decode()
    except UnicodeDecodeError:
        raise ConfigError("the form is not UTF-8") from None
    form = {k: v[-1] for k, v in parse_qs(text, keep_blank_values=True).items()}
    request.state.form = form
    return form


def actor(scope: Scope) -> Callable[[Request], Awaitable[Looker]]:
    """A dependency of every POST: the looker, who must send this session's CSRF token (form
    field ``csrf`` or header ``X-CSRF-Token``) from a page of this server and whose role must
    allow ``scope``; ``ForbiddenError`` otherwise (the action is never done)."""

    async def dependency(request: Request) -> Looker:
        who = await looker(request)
        token = request.headers.get(CSRF_HEADER)
        if token is None and request.headers.get("content-type", "").startswith(
            "application/x-www-form-urlencoded"
        ):
            token = (await form_of(request)).get(CSRF_FIELD)
        if not same_origin(request) or not who.session.csrf_matches(token):
            raise ForbiddenError("the request carries no valid CSRF token; reload the page")
        return _allowed(who, scope)

    return dependency


def viewer(scope: Scope) -> Callable[[Request], Awaitable[Looker]]:
    """A dependency of a page only some roles may see (the audit log, users): the looker,
    whose role must allow ``scope``; ``ForbiddenError`` otherwise."""

    async def dependency(request: Request) -> Looker:
        return _allowed(await looker(request), scope)

    return dependency


def _allowed(who: Looker, scope: Scope) -> Looker:
    if not who.can(scope):
        raise ForbiddenError(f"{who.name!r} lacks the scope {scope.value!r}")
    return who


def _environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(["html"]),
        undefined=StrictUndefined,  # a misspelt name is an error in tests, not a blank
        trim_blocks=True,
        lstrip_blocks=True,
    )
    from tickwork.dashboard import present

    env.filters.update(present.FILTERS)
    env.globals.update(version=__version__)
    return env


ENV = _environment()


def render(
    request: Request,
    template: str,
    context: Mapping[str, Any] | None = None,
    *,
    status_code: int = 200,
) -> HTMLResponse:
    """A page: ``template`` with ``context``, the looker, the navigation and the clock."""
    from tickwork.dashboard.pages import NAV

    ctx: ApiContext = get_context(request)
    who: Looker | None = getattr(request.state, "looker", None)
    html = ENV.get_template(template).render(
        request=request,
        looker=who,
        nav=[item for item in NAV if who is not None and who.can(item.scope)],
        path=request.url.path,
        now=ctx.clock.now(),
        **(context or {}),
    )
    response = HTMLResponse(html, status_code=status_code)
    new_session: str | None = getattr(request.state, "new_session", None)
    if new_session is not None:
        set_session_cookie(response, new_session)
    response.headers["cache-control"] = "no-store"
    return response


def set_session_cookie(response: HTMLResponse | RedirectResponse, value: str) -> None:
    # No Max-Age: the session ends with the browser too; the server ends it on its own clock.
    response.set_cookie(
        SESSION_COOKIE, value, secure=True, httponly=True, samesite="strict", path="/"
    )


def redirect(url: str) -> RedirectResponse:
    """After a POST: see the result with a GET (303), never re-sent by a reload."""
    return RedirectResponse(url, status_code=303)


def local_path(value: str | None, default: str = "/") -> str:
    """``value`` when it is a path of this site (a ``next=`` after login), else ``default``:
    never a redirect to another host."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return default
    return value

"""Logging in and out. The login form carries a token of its own (a cookie and a field that
must match, the double-submit pattern), so another site cannot log a browser into an account
of its choosing; attempts are limited per client address and per user name."""

from __future__ import annotations

import hmac
import secrets
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from tickwork.api.middleware import RateLimiter
from tickwork.dashboard.web import (
    SESSION_COOKIE,
    Looker,
    form_of,
    local_path,
    looker,
    redirect,
    render,
    same_origin,
    sessions_of,
    set_session_cookie,
)
from tickwork.domain.limits import RateLimit
from tickwork.errors import AuthError, ForbiddenError

router = APIRouter(include_in_schema=False)

LOGIN_COOKIE = "tw_login"
# Per client address and per user name: a burst of 5 attempts, then one every 12 seconds.
LOGIN_RATE = RateLimit(5, 60.0)


def limiter_of(request: Request) -> RateLimiter:
    limiter: RateLimiter | None = getattr(request.app.state, "login_limiter", None)
    if limiter is None:
        limiter = request.app.state.login_limiter = RateLimiter(LOGIN_RATE)
    return limiter


def login_page(
    request: Request,
    next_path: str,
    *,
    error: str | None = None,
    username: str = "",
    status_code: int = 200,
) -> HTMLResponse:
    """The form; after a refused attempt with its error and the name typed (kept, so only the
    password is typed again)."""
    token = secrets.token_urlsafe(24)
    response = render(
        request,
        "login.html",
        {"next_path": next_path, "login_token": token, "error": error, "username": username},
        status_code=status_code,
    )
    response.set_cookie(
        LOGIN_COOKIE, token, secure=True, httponly=True, samesite="strict", path="/login"
    )
    return response


@router.get("/login", response_class=HTMLResponse)
async def login_form(
    request: Request, next_path: Annotated[str | None, Query(alias="next")] = None
) -> HTMLResponse:
    return login_page(request, local_path(next_path))


@router.post("/login", response_model=None)
async def login(request: Request) -> HTMLResponse | RedirectResponse:
    form = await form_of(request)
    next_path = local_path(form.get("next"))
    cookie_token = request.cookies.get(LOGIN_COOKIE, "")
    form_token = form.get("login_token", "")
    if (
        not same_origin(request)
        or not cookie_token
        or not hmac.compare_digest(cookie_token.encode(), form_token.encode())
    ):
        raise ForbiddenError("the login form expired or came from another site; try again")
    name = form.get("username", "").strip()
    limiter = limiter_of(request)
    client = request.client.host if request.client else "unknown"
    wait = limiter.check(f"ip:{client}") or limiter.check(f"user:{name.lower()}")
    if wait is not None:
        return login_page(
            request,
            next_path,
            error=f"too many attempts; try again in {max(1, round(wait))} s",
            username=name,
            status_code=429,
        )
    try:
        cookie, _ = await sessions_of(request).login(name, form.get("password", ""))
    except AuthError as exc:
        return login_page(request, next_path, error=str(exc), username=name, status_code=401)
    response = redirect(next_path)
    set_session_cookie(response, cookie)
    response.delete_cookie(LOGIN_COOKIE, path="/login")
    return response


@router.post("/logout")
async def logout(request: Request, who: Annotated[Looker, Depends(looker)]) -> RedirectResponse:
    form = await form_of(request)
    if not same_origin(request) or not who.session.csrf_matches(form.get("csrf")):
        raise ForbiddenError("the request carries no valid CSRF token; reload the page")
    await sessions_of(request).logout(request.cookies.get(SESSION_COOKIE))
    response = redirect("/login")
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response

"""Users and their API tokens (``/users``, admin only): create a user, change its role,
disable or enable it; create a token (its secret shown once, on the answer to the form, and
never again) and revoke one. ``/account`` (pages/account.py) reuses the token parts for a
user's own tokens."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Annotated, Any, Protocol
from urllib.parse import quote

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from tickwork.api.deps import get_context
from tickwork.dashboard.web import Looker, actor, form_of, redirect, render, viewer
from tickwork.domain.access import ROLE_SCOPES, Principal, Role, Scope, User, parse_role
from tickwork.domain.durations import parse_duration
from tickwork.errors import ConfigError, ConflictError, InvalidStateError

router = APIRouter(include_in_schema=False)

Admin = Annotated[Looker, Depends(viewer(Scope.ADMIN))]
AdminActor = Annotated[Looker, Depends(actor(Scope.ADMIN))]
PAGE = 50
# Checkbox fields of the token form: one per scope ("scope.jobs:read"), as the form keeps
# only one value per name.
SCOPE_FIELD = "scope."
TOKEN_FIELDS = ("name", "scopes", "expires_in")
USER_FIELDS = ("name", "role", "password", "password_again")
UserName = Annotated[str, Query(max_length=200)]


def user_path(name: str) -> str:
    return f"/users/{quote(name, safe='')}"


# --- the list of users, and creating one ---------------------------------------------------------
@router.get("/users", response_class=HTMLResponse)
async def users(
    request: Request, who: Admin, after: Annotated[str | None, Query(max_length=200)] = None
) -> HTMLResponse:
    return await _users_page(request, after)


async def _users_page(
    request: Request,
    after: str | None = None,
    *,
    values: Mapping[str, str] | None = None,
    errors: Mapping[str, str] | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    # Users are few (people, not jobs): read them all and page by name here.
    everyone = sorted(await get_context(request).accounts.list_users(), key=lambda u: u.name)
    rest = [u for u in everyone if after is None or u.name > after]
    shown = rest[:PAGE]
    next_url = f"/users?after={quote(shown[-1].name, safe='')}" if len(rest) > PAGE else None
    return render(
        request,
        "users.html",
        {
            "users": shown,
            "next_url": next_url,
            "roles": list(Role),
            "values": values or {"role": Role.READ_ONLY.value},
            "errors": errors or {},
        },
        status_code=status_code,
    )


@router.post("/users", response_model=None)
async def create_user(request: Request, who: AdminActor) -> HTMLResponse | RedirectResponse:
    form = await form_of(request)
    values = {name: form.get(name, "") for name in USER_FIELDS}
    name = values["name"].strip()
    try:
        role = parse_role(values["role"])
        if values["password"] != values["password_again"]:
            raise ConfigError("the two passwords differ", field="password_again")
        await get_context(request).accounts.create_user(
            name, role, values["password"], actor=who.principal
        )
    except ConfigError as exc:
        errors = {exc.field if exc.field in USER_FIELDS else "form": exc.reason}
        return await _users_page(
            request, values=_no_secrets(values), errors=errors, status_code=422
        )
    except ConflictError as exc:
        return await _users_page(
            request, values=_no_secrets(values), errors={"name": str(exc)}, status_code=422
        )
    return redirect(user_path(name))


def _no_secrets(values: Mapping[str, str]) -> dict[str, str]:
    """A form's values to show again: never its passwords."""
    return {k: v for k, v in values.items() if not k.startswith("password")}


# --- one user: role, disabled, tokens ----------------------------------------------------------
@router.get("/users/{name}", response_class=HTMLResponse)
async def user_page(request: Request, name: str, who: Admin) -> HTMLResponse:
    return await _user_page(request, name)


async def _user_page(
    request: Request,
    name: str,
    *,
    values: Mapping[str, Any] | None = None,
    errors: Mapping[str, str] | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    accounts = get_context(request).accounts
    user = await accounts.get_user(name)
    return render(
        request,
        "user.html",
        {
            "user": user,
            "roles": list(Role),
            **await token_part(request, user, user_path(user.name), values, errors),
        },
        status_code=status_code,
    )


@router.post("/users/{name}/role")
async def change_role(request: Request, name: str, who: AdminActor) -> RedirectResponse:
    role = parse_role((await form_of(request)).get("role", ""))
    await get_context(request).accounts.update_user(
        name, role=role, disabled=None, actor=who.principal
    )
    return redirect(user_path(name))


@router.post("/users/{name}/disable")
async def disable(request: Request, name: str, who: AdminActor) -> RedirectResponse:
    await get_context(request).accounts.update_user(
        name, role=None, disabled=True, actor=who.principal
    )
    return redirect(user_path(name))


@router.post("/users/{name}/enable")
async def enable(request: Request, name: str, who: AdminActor) -> RedirectResponse:
    await get_context(request).accounts.update_user(
        name, role=None, disabled=False, actor=who.principal
    )
    return redirect(user_path(name))


@router.post("/users/{name}/tokens", response_model=None)
async def create_token(request: Request, name: str, who: AdminActor) -> HTMLResponse:
    user = await get_context(request).accounts.get_user(name)
    return await token_created_or_form(
        request, who.principal, user, user_path(user.name), _user_page
    )


@router.post("/users/{name}/tokens/{token_id}/revoke")
async def revoke_token(
    request: Request, name: str, token_id: int, who: AdminActor
) -> RedirectResponse:
    await get_context(request).accounts.revoke_token(token_id, actor=who.principal, owner=name)
    return redirect(user_path(name))


# --- the token parts, shared with /account -------------------------------------------------------
async def token_part(
    request: Request,
    user: User,
    base: str,
    values: Mapping[str, Any] | None,
    errors: Mapping[str, str] | None,
) -> dict[str, Any]:
    """What the token list and its form need: the user's tokens, the scopes its role allows
    (the only ones offered), the form's values and errors; ``base``: the page's path."""
    tokens = await get_context(request).accounts.list_tokens(user.name)
    return {
        "tokens": sorted(tokens, key=lambda t: t.id, reverse=True),
        "token_base": base,
        "offered_scopes": [s for s in Scope if s in ROLE_SCOPES[user.role]],
        "token_values": values or {"scopes": []},
        "token_errors": errors or {},
    }


class PageAgain(Protocol):
    """How a token form's page is drawn again with its errors (``_user_page``, the account's)."""

    async def __call__(
        self,
        request: Request,
        name: str,
        *,
        values: Mapping[str, Any] | None = None,
        errors: Mapping[str, str] | None = None,
        status_code: int = 200,
    ) -> HTMLResponse: ...


async def token_created_or_form(
    request: Request, acting: Principal, user: User, base: str, again: PageAgain
) -> HTMLResponse:
    """Create a token for ``user`` from the posted form: the page with its secret (the one
    time it is shown), or the form's page again with the error next to its field."""
    form = await form_of(request)
    scopes = [s for s in Scope if form.get(SCOPE_FIELD + s.value)]
    name, expires_in = form.get("name", ""), form.get("expires_in", "")
    values = {"name": name, "expires_in": expires_in, "scopes": [s.value for s in scopes]}
    accounts = get_context(request).accounts
    try:
        expires_at = None
        if expires_in.strip():
            seconds = parse_duration(expires_in, field="expires_in")
            expires_at = get_context(request).clock.now() + timedelta(seconds=seconds)
        token, secret = await accounts.create_token(
            user.name, name, frozenset(scopes), expires_at, actor=acting
        )
    except ConfigError as exc:
        field = "expires_in" if exc.field == "expires_at" else exc.field
        errors = {field if field in TOKEN_FIELDS else "form": exc.reason}
        return await again(request, user.name, values=values, errors=errors, status_code=422)
    except InvalidStateError as exc:
        return await again(
            request, user.name, values=values, errors={"form": str(exc)}, status_code=409
        )
    # Shown in the answer to the POST, never stored for a later page: a reload asks to send
    # the form again (a second token), it never shows this secret again.
    return render(request, "token_created.html", {"token": token, "secret": secret, "back": base})

"""The looker's own account (``/account``): their role and their API tokens, which they may
create (within their role's scopes) and revoke whatever their role. A local session (no
users) has no account."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from tickwork.api.deps import get_context
from tickwork.dashboard.pages.users import token_created_or_form, token_part
from tickwork.dashboard.web import Looker, LookerDep, actor, redirect, render
from tickwork.domain.access import Scope
from tickwork.errors import InvalidStateError

router = APIRouter(include_in_schema=False)

# Every role reads jobs: any logged-in user, with the session's CSRF token.
Self = Annotated[Looker, Depends(actor(Scope.JOBS_READ))]
BASE = "/account"


@router.get("/account", response_class=HTMLResponse)
async def account(request: Request, who: LookerDep) -> HTMLResponse:
    return await _page(request, who.session.user_name)


async def _page(
    request: Request,
    name: str | None,
    *,
    values: Mapping[str, Any] | None = None,
    errors: Mapping[str, str] | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    if name is None:
        return render(request, "account.html", {"user": None})
    user = await get_context(request).accounts.get_user(name)
    return render(
        request,
        "account.html",
        {"user": user, **await token_part(request, user, BASE, values, errors)},
        status_code=status_code,
    )


def _own(who: Looker) -> str:
    if who.session.user_name is None:
        raise InvalidStateError("the local session has no account: create users on /users")
    return who.session.user_name


@router.post("/account/tokens", response_model=None)
async def create_token(request: Request, who: Self) -> HTMLResponse:
    user = await get_context(request).accounts.get_user(_own(who))
    return await token_created_or_form(request, who.principal, user, BASE, _page)


@router.post("/account/tokens/{token_id}/revoke")
async def revoke_token(request: Request, token_id: int, who: Self) -> RedirectResponse:
    await get_context(request).accounts.revoke_token(token_id, actor=who.principal, owner=_own(who))
    return redirect(BASE)

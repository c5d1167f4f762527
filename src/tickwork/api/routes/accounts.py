"""Users and API tokens (admin only). A token's secret is in the create response only."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request

from tickwork.api.deps import Admin, get_context
from tickwork.api.schemas.accounts import TokenIn, UserChangeIn, UserIn
from tickwork.api.schemas.common import Id
from tickwork.wire import (
    TokenCreatedOut,
    TokenOut,
    UserOut,
    token_created_out,
    token_out,
    user_out,
)

router = APIRouter(prefix="/api", tags=["accounts"])


@router.get("/users", summary="Users")
async def list_users(request: Request, principal: Admin) -> list[UserOut]:
    return [user_out(u) for u in await get_context(request).accounts.list_users()]


@router.post("/users", status_code=201, summary="Create a user")
async def create_user(request: Request, principal: Admin, body: UserIn) -> UserOut:
    accounts = get_context(request).accounts
    user = await accounts.create_user(body.name, body.role, body.password, actor=principal)
    return user_out(user)


@router.patch("/users/{name}", summary="Change a user's role, or disable it")
async def update_user(request: Request, principal: Admin, name: str, body: UserChangeIn) -> UserOut:
    accounts = get_context(request).accounts
    user = await accounts.update_user(name, role=body.role, disabled=body.disabled, actor=principal)
    return user_out(user)


@router.get("/tokens", summary="API tokens (never their secrets)")
async def list_tokens(
    request: Request,
    principal: Admin,
    user: Annotated[str | None, Query(max_length=200)] = None,
) -> list[TokenOut]:
    return [token_out(t) for t in await get_context(request).accounts.list_tokens(user)]


@router.post("/tokens", status_code=201, summary="Create a token; its secret is shown once")
async def create_token(request: Request, principal: Admin, body: TokenIn) -> TokenCreatedOut:
    accounts = get_context(request).accounts
    token, secret = await accounts.create_token(
        body.user, body.name, frozenset(body.scopes), body.expires_at, actor=principal
    )
    return token_created_out(token, secret)


@router.delete("/tokens/{token_id}", summary="Revoke a token (at once)")
async def revoke_token(request: Request, principal: Admin, token_id: Id) -> TokenOut:
    return token_out(await get_context(request).accounts.revoke_token(token_id, actor=principal))

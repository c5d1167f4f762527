"""What creating and changing users and API tokens takes over the API.

Users and tokens are shown as ``tickwork.wire`` shows them, in the CLI too."""

from __future__ import annotations

from datetime import datetime

from pydantic import Field

from tickwork.api.schemas.common import StrictIn
from tickwork.domain.access import Role, Scope


class UserIn(StrictIn):
    name: str = Field(min_length=1, max_length=200)
    role: Role
    password: str | None = Field(
        None, max_length=1000, description="Optional (tokens are how the API authenticates)."
    )


class UserChangeIn(StrictIn):
    role: Role | None = None
    disabled: bool | None = Field(None, description="Disabling revokes the user's tokens.")


class TokenIn(StrictIn):
    user: str = Field(min_length=1, max_length=200)
    name: str = Field(min_length=1, max_length=200)
    scopes: list[Scope] = Field(min_length=1, description="Never more than the user's role.")
    expires_at: datetime | None = None

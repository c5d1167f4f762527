"""Users logged in to the dashboard as a browser would be, and forms sent with their CSRF
token."""

from __future__ import annotations

import contextlib
import re
from collections.abc import AsyncIterator
from typing import Any

import httpx

from tests.api.conftest import Api
from tests.dashboard.conftest import browser, csrf_of, log_in
from tickwork.domain.access import LOCAL, Role

PASSWORD = "correct horse battery"
FIELD_ERROR = re.compile(r'<p class="field-error" id="f-([\w.-]+)-error">([^<]*)</p>')


@contextlib.asynccontextmanager
async def person(site: Api, name: str, role: Role) -> AsyncIterator[httpx.AsyncClient]:
    """A browser logged in as a new user ``name`` of ``role``."""
    await site.ctx.accounts.create_user(name, role, PASSWORD, actor=LOCAL)
    async with browser(site) as client:
        response = await log_in(client, name, PASSWORD)
        assert response.status_code == 303, response.text
        yield client


async def send(
    client: httpx.AsyncClient, path: str, data: dict[str, Any] | None = None
) -> httpx.Response:
    """POST a form to ``path`` with the session's CSRF token, as its page would."""
    csrf = csrf_of((await client.get("/account")).text)
    return await client.post(path, data={"csrf": csrf, **(data or {})})


def field_errors(html: str) -> dict[str, str]:
    """The errors shown next to fields: field name -> message."""
    return {name: message for name, message in FIELD_ERROR.findall(html)}

"""The dashboard served for real (uvicorn on 127.0.0.1, beside the API), and a browser-like
client: it keeps cookies and sends the Origin header a browser sends with a form."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from http.cookies import SimpleCookie

import httpx
import pytest

from tests.api.conftest import CLIENT_TIMEOUT, Api, running_api
from tickwork.dashboard.app import create_app

CSRF_FIELD = re.compile(r'name="csrf-token" content="([^"]+)"')
LOGIN_TOKEN = re.compile(r'name="login_token" value="([^"]+)"')


@pytest.fixture
async def site(sqlite_url: str) -> AsyncIterator[Api]:
    """The dashboard and API over a fresh SQLite file."""
    async with running_api(sqlite_url, factory=create_app) as running:
        yield running


@pytest.fixture
async def site_any(db_url: str) -> AsyncIterator[Api]:
    """The dashboard and API over a fresh database of each backend."""
    async with running_api(db_url, factory=create_app) as running:
        yield running


def browser(site: Api) -> httpx.AsyncClient:
    """A client that behaves like a browser on the site: cookies kept (``Secure`` ones too: a
    browser treats 127.0.0.1 as a secure origin, httpx does not) and the ``Origin`` header
    that a browser sends with a form."""
    client = httpx.AsyncClient(
        base_url=site.url, headers={"Origin": site.url}, timeout=CLIENT_TIMEOUT
    )

    async def keep_cookies(response: httpx.Response) -> None:
        for header in response.headers.get_list("set-cookie"):
            cookie = SimpleCookie()
            cookie.load(header)
            for name, morsel in cookie.items():
                client.cookies.delete(name)
                if morsel["max-age"] != "0" and morsel.value not in ('""', ""):
                    client.cookies.set(name, morsel.value)

    client.event_hooks["response"] = [keep_cookies]
    return client


def csrf_of(html: str) -> str:
    found = CSRF_FIELD.search(html)
    assert found, "no CSRF field on the page"
    return found.group(1)


async def log_in(client: httpx.AsyncClient, name: str, password: str) -> httpx.Response:
    """Fill in and send the login form as a browser would."""
    form = await client.get("/login")
    token = LOGIN_TOKEN.search(form.text)
    assert token, form.text
    return await client.post(
        "/login",
        data={"login_token": token.group(1), "username": name, "password": password, "next": "/"},
    )

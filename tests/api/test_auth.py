"""Who may call what: roles, token scopes, revocation, expiry, local mode, shared secrets."""

from __future__ import annotations

import signal
import socket
import subprocess
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.api.conftest import HTTP_JOB, TEST_SETTINGS, Api, error_of, free_port, running_api
from tests.integration.support import TICKWORK, stop, wait_for
from tickwork.domain.access import Role, Scope

# One route per scope: (scope, method, path, body). The "ping" job exists beforehand.
ROUTES: list[tuple[Scope, str, str, dict[str, Any] | None]] = [
    (Scope.JOBS_READ, "GET", "/api/jobs", None),
    (Scope.JOBS_READ, "GET", "/api/runs", None),
    (Scope.JOBS_TRIGGER, "POST", "/api/jobs/ping/trigger", None),
    (Scope.JOBS_TRIGGER, "POST", "/api/queue", {"task": "ping"}),
    (Scope.JOBS_WRITE, "POST", "/api/jobs", {**HTTP_JOB, "name": "made"}),
    (Scope.AUDIT_READ, "GET", "/api/audit", None),
    (Scope.ADMIN, "GET", "/api/users", None),
]
# What each role may do, written out (not derived from ROLE_SCOPES, so that a change to the
# role table shows up here).
ALLOWED: dict[Role, set[Scope]] = {
    Role.ADMIN: {s for s, *_ in ROUTES},
    Role.OPERATOR: {Scope.JOBS_READ, Scope.JOBS_TRIGGER, Scope.AUDIT_READ},
    Role.READ_ONLY: {Scope.JOBS_READ, Scope.AUDIT_READ},
}
SUCCESS = {"GET": 200, "POST": 201}


async def call(client: httpx.AsyncClient, method: str, path: str, body: Any) -> httpx.Response:
    return await client.request(method, path, json=body)


@pytest.mark.parametrize("role", list(Role))
async def test_each_role_gets_exactly_its_scopes(
    api: Api, admin: httpx.AsyncClient, role: Role
) -> None:
    assert (await admin.post("/api/jobs", json=HTTP_JOB)).status_code == 201
    async with api.as_token(await api.token(role)) as client:
        for scope, method, path, body in ROUTES:
            response = await call(client, method, path, body)
            if scope in ALLOWED[role]:
                assert response.status_code in (200, 201, 202), (path, response.text)
            else:
                assert response.status_code == 403, (role, path, response.text)
                error = error_of(response)
                assert error["code"] == "forbidden"
                assert scope.value in error["message"]


async def test_a_token_is_limited_to_its_scopes(api: Api, admin: httpx.AsyncClient) -> None:
    assert (await admin.post("/api/jobs", json=HTTP_JOB)).status_code == 201
    token = await api.token(Role.OPERATOR, frozenset({Scope.JOBS_READ}))
    async with api.as_token(token) as client:
        assert (await client.get("/api/jobs")).status_code == 200
        refused = await client.post("/api/jobs/ping/trigger")
        assert refused.status_code == 403
        assert "jobs:trigger" in error_of(refused)["message"]


async def test_a_scope_beyond_the_role_cannot_be_granted(admin: httpx.AsyncClient) -> None:
    await admin.post("/api/users", json={"name": "reader", "role": "read_only"})
    response = await admin.post(
        "/api/tokens", json={"user": "reader", "name": "x", "scopes": ["jobs:write"]}
    )
    assert response.status_code == 422
    assert error_of(response)["field"] == "scopes"


@pytest.mark.parametrize(
    "header",
    [None, "Bearer tw_1_wrong", "Bearer nonsense", "Basic dXNlcjpwYXNz", "Bearer"],
)
async def test_without_valid_credentials_it_is_401(
    api: Api, admin: httpx.AsyncClient, header: str | None
) -> None:
    headers = {} if header is None else {"Authorization": header}
    response = await api.client.get("/api/jobs", headers=headers)
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert error_of(response)["code"] == "unauthorized"


async def test_a_revoked_token_is_refused_at_once(api: Api, admin: httpx.AsyncClient) -> None:
    token = await api.token(Role.OPERATOR)
    async with api.as_token(token) as client:
        assert (await client.get("/api/jobs")).status_code == 200
        (listed,) = [
            t for t in (await admin.get("/api/tokens")).json() if t["user"] != "user-admin"
        ]
        assert "token" not in listed and token not in str(listed)  # the secret is never shown
        revoked = await admin.delete(f"/api/tokens/{listed['id']}")
        assert revoked.status_code == 200 and revoked.json()["revoked_at"] is not None
        assert (await client.get("/api/jobs")).status_code == 401


async def test_an_expired_token_is_refused(api: Api, admin: httpx.AsyncClient) -> None:
    token = await api.token(Role.READ_ONLY, expires_at=api.clock.now() + timedelta(hours=1))
    async with api.as_token(token) as client:
        assert (await client.get("/api/jobs")).status_code == 200
        api.clock.advance(3601)
        response = await client.get("/api/jobs")
        assert response.status_code == 401


async def test_a_disabled_user_loses_access(api: Api, admin: httpx.AsyncClient) -> None:
    token = await api.token(Role.OPERATOR, user="olga")
    async with api.as_token(token) as client:
        assert (await client.get("/api/jobs")).status_code == 200
        changed = await admin.patch("/api/users/olga", json={"disabled": True})
        assert changed.status_code == 200 and changed.json()["disabled"] is True
        assert (await client.get("/api/jobs")).status_code == 401


async def test_token_secret_is_shown_once_and_works(api: Api, admin: httpx.AsyncClient) -> None:
    await admin.post("/api/users", json={"name": "ops", "role": "operator"})
    created = await admin.post(
        "/api/tokens", json={"user": "ops", "name": "ci", "scopes": ["jobs:read"]}
    )
    assert created.status_code == 201, created.text
    secret = created.json()["token"]
    assert secret.startswith("tw_")
    async with api.as_token(secret) as client:
        assert (await client.get("/api/runs")).status_code == 200
    tokens = (await admin.get("/api/tokens", params={"user": "ops"})).json()
    assert [t["name"] for t in tokens] == ["ci"] and secret not in str(tokens)


async def test_without_users_every_local_request_is_allowed(api: Api) -> None:
    assert (await api.client.get("/api/jobs")).status_code == 200
    created = await api.client.post("/api/users", json={"name": "root", "role": "admin"})
    assert created.status_code == 201, created.text
    # The first user ends local mode: from now on a token is needed.
    response = await api.client.get("/api/jobs")
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"


async def test_local_mode_needs_a_loopback_server(sqlite_url: str) -> None:
    async with running_api(sqlite_url) as api:
        api.ctx.allow_local = False  # what a server on a public address gets
        assert (await api.client.get("/api/jobs")).status_code == 401


async def test_trigger_secret_works_on_trigger_routes_only(sqlite_url: str) -> None:
    secret = "s3cret-for-external-cron"
    settings = TEST_SETTINGS.replace(trigger_secret=secret)
    async with running_api(sqlite_url, settings) as api:
        token = await api.token(Role.ADMIN)
        async with api.as_token(token) as admin:
            assert (await admin.post("/api/jobs", json=HTTP_JOB)).status_code == 201
        bearer = {"Authorization": f"Bearer {secret}"}
        triggered = await api.client.post("/api/jobs/ping/trigger", headers=bearer)
        assert triggered.status_code == 202, triggered.text
        assert triggered.json()["job"]["triggered_by"] == "webhook"
        assert (await api.client.get("/api/jobs", headers=bearer)).status_code == 401
        assert (
            await api.client.post("/api/queue", json={"task": "ping"}, headers=bearer)
        ).status_code == 401
        wrong = {"Authorization": f"Bearer {secret}x"}
        assert (await api.client.post("/api/jobs/ping/trigger", headers=wrong)).status_code == 401
        async with api.as_token(token) as admin:
            (entry,) = (await admin.get("/api/audit", params={"action": "job.trigger"})).json()[
                "items"
            ]
        assert entry["actor"] == "trigger-secret"


def test_tickwork_api_serves_until_sigterm(tmp_path: Path) -> None:
    port = free_port()
    proc = subprocess.Popen(
        [TICKWORK, "api", "--port", str(port), "--database-url", f"sqlite:///{tmp_path}/t.db"],
        cwd=tmp_path,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:

        def served() -> bool:
            try:
                return httpx.get(f"http://127.0.0.1:{port}/api/jobs").status_code == 200
            except httpx.TransportError:
                return False

        wait_for(served)
        docs = httpx.get(f"http://127.0.0.1:{port}/api/docs")
        assert docs.status_code == 200 and "/api/jobs" in docs.text
    finally:
        out = stop(proc, signal.SIGTERM)
    assert "open to local requests only" in out
    assert "Traceback" not in out


def test_tickwork_api_reports_a_taken_port(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = subprocess.run(
            [TICKWORK, "api", "--port", str(port), "--database-url", f"sqlite:///{tmp_path}/t.db"],
            cwd=tmp_path,
            text=True,
            capture_output=True,
            timeout=60,
        )
    assert done.returncode == 2
    assert f"cannot listen on 127.0.0.1:{port}" in done.stderr
    assert "Traceback" not in done.stderr

"""Property-based tests of the whole API from its own OpenAPI document (schemathesis).

Every documented operation gets generated requests, authenticated as an admin: none may
answer 5xx, and every response must match the schema the document declares for it. Examples
are bounded so this runs in well under a minute. ``GET /api/events`` is left out: it streams
until the client leaves (tests/api/test_events.py covers it).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.core.result import Ok

from tickwork.api.app import OPENAPI_URL, create_app
from tickwork.api.deps import ApiContext
from tickwork.config.api import ApiSettings
from tickwork.domain.access import LOCAL, Role, Scope
from tickwork.domain.tasks import HttpTarget, TaskDefinition, TaskSource
from tickwork.service.context import Context
from tickwork.service.jobs import EnqueueRequest
from tickwork.store import create_store

SETTINGS = ApiSettings(rate_limit=None, webhook_secret="webhook-secret-0123456789")
HEADERS: dict[str, str] = {}
EXAMPLES = 5  # per operation and mode: bounded so the whole file runs in well under a minute
# Seconds a call may take: schemathesis' own 10 s was reached on a loaded machine (CI runs
# two test processes on two cores beside PostgreSQL), and a slow answer is not a wrong one.
TIMEOUT = 60
CHECKS = [
    schemathesis.checks.not_a_server_error,
    schemathesis.checks.response_schema_conformance,
]


async def _seed(ctx: ApiContext) -> str:
    """A job definition, a queued job of it, and an admin token (returned)."""
    ping = TaskDefinition(
        name="ping", target=HttpTarget(url="http://127.0.0.1:9/"), schedule="*/5 * * * *"
    )
    await ctx.service.sync_definitions([ping], [TaskSource.CODE])
    await ctx.service.enqueue(EnqueueRequest("ping"))
    await ctx.accounts.create_user("admin", Role.ADMIN, None, actor=LOCAL)
    _, secret = await ctx.accounts.create_token(
        "admin", "schemathesis", frozenset({Scope.ADMIN}), None, actor=LOCAL
    )
    return secret


def _context(url: str) -> ApiContext:
    return ApiContext.build(Context(create_store(url), api_job_kinds=SETTINGS.job_kinds), SETTINGS)


def _operations() -> tuple[list[str], list[str]]:
    """Every documented operation's label, and those with input that a request could break
    (parameters or a body); building the document does not touch the store."""
    document = create_app(_context("sqlite://")).openapi()
    loaded = schemathesis.openapi.from_dict(document).exclude(path="/api/events")
    labels, with_input = [], []
    for result in loaded.get_all_operations():
        assert isinstance(result, Ok), result  # the document itself must be valid
        operation = result.ok()
        labels.append(operation.label)
        spec = document["paths"][operation.path][operation.method.lower()]
        if spec.get("parameters") or spec.get("requestBody"):
            with_input.append(operation.label)
    return labels, with_input


OPERATIONS, OPERATIONS_WITH_INPUT = _operations()


@pytest.fixture
def api_schema(sqlite_url: str) -> Iterator[Any]:
    """The schema served by a fresh API over a seeded SQLite store (called in-process)."""
    ctx = _context(sqlite_url)
    HEADERS["Authorization"] = f"Bearer {asyncio.run(_seed(ctx))}"
    yield schemathesis.openapi.from_asgi(OPENAPI_URL, create_app(ctx), timeout=TIMEOUT)
    ctx.service.store.engine.dispose()  # type: ignore[attr-defined]


@pytest.mark.parametrize("label", OPERATIONS)
def test_operation_conforms_to_the_document(api_schema: Any, label: str) -> None:
    """Valid requests: no 5xx, and responses as documented."""
    operation = api_schema.find_operation_by_label(label)

    @given(case=operation.as_strategy())
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        derandomize=True,
        database=None,
    )
    def run(case: Any) -> None:
        case.call_and_validate(headers=HEADERS, checks=CHECKS, timeout=TIMEOUT)

    run()


@pytest.mark.parametrize("label", OPERATIONS_WITH_INPUT)
def test_invalid_requests_never_cause_a_server_error(api_schema: Any, label: str) -> None:
    """Requests that break the document: a 4xx, never a 5xx."""
    operation = api_schema.find_operation_by_label(label)

    @given(case=operation.as_strategy(GenerationMode.NEGATIVE))
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        derandomize=True,
        database=None,
    )
    def run(case: Any) -> None:
        case.call_and_validate(
            headers=HEADERS, checks=[schemathesis.checks.not_a_server_error], timeout=TIMEOUT
        )

    run()

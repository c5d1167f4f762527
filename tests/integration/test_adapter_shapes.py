"""The CLI's ``--json`` and the REST API show a domain object alike, key for key.

On every key both show, the same value. The shared shapes (``tickwork.wire``: queued job, run,
processor, user, token, audit entry) show in the CLI at least every key the API shows; a
definition has a view per adapter, which still agree where they overlap. Times are compared as
times: the API writes UTC as ``Z``, the CLI as ``+00:00``."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from tests.api.conftest import define, running_api
from tests.integration.support import cli_json
from tickwork.domain.access import Role
from tickwork.domain.jobs import Completion, JobState, NewJob, Outcome, TriggeredBy
from tickwork.service.jobs import EnqueueRequest
from tickwork.service.queries import ProcessorInfo

# The keys of the API's definition (``JobOut``) that the CLI's (``jobs show``) shows too.
DEFINITION_KEYS = {
    "name",
    "kind",
    "schedule",
    "timezone",
    "description",
    "tags",
    "enabled",
    "removed",
    "paused",
    "pause",
    "auto",
    "source",
    "next_fire_at",
    "last_fire_at",
    "created_at",
    "updated_at",
}


def comparable(key: str, value: Any) -> Any:
    if isinstance(value, dict):  # a nested shape (a definition's pause)
        return {k: comparable(k, v) for k, v in value.items()}
    if isinstance(value, str) and (key in ("at", "until") or key.endswith(("_at", "_seen"))):
        return datetime.fromisoformat(value)
    return value


def agree(what: str, cli: dict[str, Any], api: dict[str, Any], *, cli_has_all: bool) -> None:
    shared = set(cli) & set(api)
    if cli_has_all:
        assert set(api) <= set(cli), (what, set(api) - set(cli))
    differing = {
        key: (cli[key], api[key])
        for key in shared
        if comparable(key, cli[key]) != comparable(key, api[key])
    }
    assert not differing, (what, differing)


def by_id(items: list[dict[str, Any]]) -> dict[Any, dict[str, Any]]:
    return {item["id"]: item for item in items}


async def test_the_cli_and_the_api_show_objects_alike(sqlite_url: str, tmp_path: Path) -> None:
    async with running_api(sqlite_url) as api:
        await define(api, "ping")
        store = api.store
        now = datetime.now(UTC)
        # Paused for a day: both views show the pause alike.
        await api.ctx.service.pause_task("ping", "shapes", now + timedelta(days=1))
        # A finished job whose one run failed, with a traceback and reported metrics.
        (done_id,) = await store.enqueue([NewJob("ping", now, TriggeredBy.API, args=[1])], now)
        (claimed,) = await store.claim("worker-1", 1, now, 60)
        outcome = Outcome.failure("Boom", "it broke", traceback="tb", metrics={"processed": 3})
        await store.complete(
            [
                Completion(
                    job_id=done_id,
                    task_name="ping",
                    attempt=claimed.attempt,
                    triggered_by=TriggeredBy.API,
                    worker_id="worker-1",
                    # In the past, so that the CLI's clock and the API's both count it.
                    started_at=now - timedelta(seconds=1.25),
                    finished_at=now,
                    outcome=outcome,
                    next_state=JobState.FAILED,
                )
            ]
        )
        pending_id = await api.ctx.service.enqueue(
            EnqueueRequest("ping", kwargs={"x": 2}, delay_seconds=3600, key="k", unique_key="u")
        )
        await store.heartbeat(
            ProcessorInfo(
                id="host-1-abc",
                role="worker",
                host="host",
                pid=1,
                version="0.1.0",
                started_at=now,
                heartbeat_at=now,
                stopped_at=now,  # stopped: the same state whichever clock looks
            )
        )
        token = await api.token(Role.ADMIN)  # a user, a token and their audit entries
        api.clock.advance(60)  # the API's clock is a fake one, set before ``now``

        def cli(*args: str) -> Any:
            return cli_json(list(args), tmp_path, {"TICKWORK_DATABASE_URL": sqlite_url})

        async with api.as_token(token) as client:

            async def get(path: str) -> Any:
                response = await client.get(path)
                assert response.status_code == 200, response.text
                return response.json()

            (run,) = (await get("/api/runs"))["items"]
            finished = await get(f"/api/queue/{done_id}")
            pending = await get(f"/api/queue/{pending_id}")
            definition = await get("/api/jobs/ping")
            run_detail = await get(f"/api/runs/{run['id']}")
            (processor,) = (await get("/api/status"))["processors"]
            users = by_id(await get("/api/users"))
            tokens = by_id(await get("/api/tokens"))
            audit = by_id((await get("/api/audit"))["items"])
            (failure,) = (await get("/api/failures"))["groups"]

        cli_finished = cli("jobs", "get", str(done_id))
        agree("finished job", cli_finished, finished["job"], cli_has_all=True)
        agree("pending job", cli("jobs", "get", str(pending_id)), pending["job"], cli_has_all=True)
        (listed,) = [j for j in cli("jobs", "queue") if j["id"] == pending_id]
        agree("listed job", listed, pending["job"], cli_has_all=True)
        agree("run of a job", cli_finished["runs"][0], finished["runs"][0], cli_has_all=True)
        (history,) = cli("jobs", "history", "ping")
        agree("run", history, run_detail, cli_has_all=True)
        agree("run in a list", history, run, cli_has_all=True)
        (cli_processor,) = cli("status")["processors"]
        agree("processor", cli_processor, processor, cli_has_all=True)
        (cli_failure,) = cli("failures", "--json")["groups"]
        assert cli_failure.keys() == failure.keys()
        agree(
            "failure group",
            cli_failure | {"samples": []},
            failure | {"samples": []},
            cli_has_all=True,
        )
        for cli_sample, sample in zip(cli_failure["samples"], failure["samples"], strict=True):
            agree("failed job sample", cli_sample, sample, cli_has_all=True)
        for name, cli_items, api_items in [
            ("user", by_id(cli("users", "list")), users),
            ("token", by_id(cli("tokens", "list")), tokens),
            ("audit entry", by_id(cli("audit")), audit),
        ]:
            assert cli_items.keys() == api_items.keys() and cli_items, name
            for key, item in api_items.items():
                agree(name, cli_items[key], item, cli_has_all=True)
        # Two views of a definition, by purpose: they agree where they overlap.
        shown = cli("jobs", "show", "ping")
        assert set(shown) & set(definition) == DEFINITION_KEYS
        agree("definition", shown, definition, cli_has_all=False)

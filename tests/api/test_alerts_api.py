"""/api/alerts over a real server: rules with their states, history, ack and mute (operator
scopes; read-only tokens only read), a channel test that says what happened, and no secret
in any answer or audit entry."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx

from tests.api.conftest import Api, add_run, define, error_of
from tests.runtime.receivers import closed_port, http_receiver
from tickwork.config.alerts import alerts_from_table
from tickwork.domain.access import AuditQuery, Role
from tickwork.domain.jobs import RunStatus
from tickwork.runtime.evaluator import Evaluator

SECRET = "sekrit-token-123"


def configure(api: Api, slack_url: str) -> Any:
    settings = alerts_from_table(
        {
            "rules": [
                {"name": "etl-failing", "kind": "consecutive_failures", "count": 1, "task": "etl"},
            ],
            "channels_default": ["ops"],
            "channels": {
                "ops": {"type": "slack", "webhook_url": f"{slack_url}/services/T/B/{SECRET}"},
                "down": {
                    "type": "slack",
                    "webhook_url": f"http://127.0.0.1:{closed_port()}/services/{SECRET}",
                },
            },
        },
        {},
    )
    api.ctx.service.ctx.alerts = settings
    return settings


async def test_rules_states_ack_mute_history_and_channel_tests(api: Api) -> None:
    with http_receiver("slack") as (slack_url, slack):
        settings = configure(api, slack_url)
        await define(api, "etl")
        await add_run(api, "etl", RunStatus.FAILED)
        await Evaluator(api.store, settings, clock=api.clock).evaluate()

        operator = api.as_token(await api.token(Role.OPERATOR))
        reader = api.as_token(await api.token(Role.READ_ONLY))
        async with operator, reader:
            rules = (await reader.get("/api/alerts")).json()
            [rule] = rules
            assert (rule["name"], rule["scope"], rule["channels"]) == (
                "etl-failing",
                "task:etl",
                ["ops"],
            )
            [state] = rule["states"]
            assert (state["subject"], state["status"]) == ("task:etl", "firing")
            assert rule["firing"] == 1

            # Reading needs jobs:read only; acting needs an operator's scopes.
            denied = await reader.post(
                "/api/alerts/rules/etl-failing/ack", json={"subject": "task:etl"}
            )
            assert denied.status_code == 403
            acked = await operator.post(
                "/api/alerts/rules/etl-failing/ack", json={"subject": "task:etl"}
            )
            assert acked.status_code == 200, acked.text
            assert acked.json()["acked_by"] == "user-operator"
            missing = await operator.post(
                "/api/alerts/rules/nope/ack", json={"subject": "task:etl"}
            )
            assert missing.status_code == 404
            assert "nope" in error_of(missing)["message"]
            not_firing = await operator.post(
                "/api/alerts/rules/etl-failing/ack", json={"subject": "task:other"}
            )
            assert not_firing.status_code == 404

            until = (api.clock.now() + timedelta(hours=2)).isoformat()
            muted = await operator.post("/api/alerts/rules/etl-failing/mute", json={"until": until})
            assert muted.status_code == 200, muted.text
            assert (await reader.get("/api/alerts/rules/etl-failing")).json()["muted_until"]
            past = (api.clock.now() - timedelta(hours=1)).isoformat()
            late = await operator.post(
                "/api/alerts/rules/etl-failing/mute", json={"subject": "task:etl", "until": past}
            )
            assert late.status_code == 422 and error_of(late)["field"] == "until"
            unknown = await operator.post(
                "/api/alerts/rules/etl-failing/mute", json={"until": None, "later": 1}
            )
            assert unknown.status_code == 422

            history = (await reader.get("/api/alerts/history?rule=etl-failing")).json()
            assert [h["why"].split(" ")[0] for h in history] == ["muted", "acknowledged", "1"]
            assert history[2]["sent"] == ["firing"] and history[2]["channels"] == ["ops"]

            # A channel test: sent now, and said so; a channel that is down says why.
            denied = await reader.post("/api/alerts/channels/ops/test")
            assert denied.status_code == 403
            ok = await operator.post("/api/alerts/channels/ops/test")
            assert ok.json() == {
                "channel": "ops",
                "kind": "slack",
                "delivered": True,
                "error": None,
            }
            bad = await operator.post("/api/alerts/channels/down/test")
            assert bad.status_code == 200
            assert bad.json()["delivered"] is False and "cannot connect" in bad.json()["error"]
            nothing = await operator.post("/api/alerts/channels/nothing/test")
            assert nothing.status_code == 404

            answers = [rules, history, ok.json(), bad.json()]
            assert SECRET not in str(answers)
        assert [slack.json(i)["text"] for i in range(len(slack.requests))] == [
            "[FIRING] test on channel:ops"
        ]
    audit = await api.store.query_audit(AuditQuery(limit=100))
    actions = [e.action for e in audit]
    assert {"alert.ack", "alert.mute", "alert.test"} <= set(actions)
    assert SECRET not in str(audit)


async def test_without_alerts_the_list_is_empty(api: Api) -> None:
    async with httpx.AsyncClient(base_url=api.url) as client:
        assert (await client.get("/api/alerts")).json() == []
        answer = await client.post("/api/alerts/channels/ops/test")
        assert answer.status_code == 404

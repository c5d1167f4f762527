"""A heartbeat check as an alert subject, end to end on SQLite and PostgreSQL: pings through
the use case at a fake clock's times, the evaluator stepping a ``check_down`` rule, and the
notices delivered as jobs of ``tickwork.notify`` by a real worker to a Slack-like receiver and
a receiver verifying the webhook signature on 127.0.0.1. No sleeping: the clock jumps."""

from __future__ import annotations

from datetime import UTC, datetime

from tests.runtime.alert_support import Engine
from tests.runtime.receivers import HOOK_SECRET, http_receiver
from tickwork.clock import FakeClock
from tickwork.config.alerts import alerts_from_table
from tickwork.domain.alert_records import AlertKey, TransitionQuery
from tickwork.domain.alert_states import Status
from tickwork.domain.checks import CheckStatus
from tickwork.domain.jobs import JobState
from tickwork.domain.queries import JobQuery
from tickwork.runtime.notify.delivery import NOTIFY_TASK
from tickwork.service.checks import Checks, PingRequest
from tickwork.service.context import Context
from tickwork.store import SqlStore

START = datetime(2026, 6, 1, 1, 0, tzinfo=UTC)


async def test_late_then_down_alerts_and_a_ping_recovers(store: SqlStore) -> None:
    with (
        http_receiver("slack") as (slack_url, slack),
        http_receiver("hook") as (hook_url, hook),
    ):
        alerts = alerts_from_table(
            {
                "base_url": "https://tw.example.com",
                "rules": [
                    {"name": "backups-down", "kind": "check_down", "tag": "backups"},
                    {"name": "other-down", "kind": "check_down", "check": "elsewhere"},
                ],
                "channels_default": ["slack", "hook"],
                "channels": {
                    "slack": {"type": "slack", "webhook_url": f"{slack_url}/services/T/B/x"},
                    "hook": {"type": "webhook", "url": f"{hook_url}/tw", "secret": "${S}"},
                },
            },
            {"S": HOOK_SECRET},
        )
        clock = FakeClock(START)
        checks = Checks(Context(store, clock=clock))
        made = await checks.create(
            {"name": "db-backup", "period": "1h", "grace": "15m", "tags": ["backups"]}
        )
        await checks.create({"name": "untagged", "period": "1m", "grace": "1m"})
        uuid = made.check.uuid
        async with Engine(store, clock, alerts) as engine:
            # New (never pinged): nothing, however long.
            clock.advance(5 * 3600)
            await engine.evaluate_and_deliver()
            assert slack.requests == [] and hook.requests == []
            await checks.ping(PingRequest(action="start"), uuid=uuid)
            clock.advance(120)
            await checks.ping(PingRequest(body=b"dumped 3 GB"), uuid=uuid)  # 06:02, up
            await engine.evaluate_and_deliver()
            # Late (07:02 + 10 min, within the 15 min grace): nothing yet.
            clock.advance(3600 + 600)
            assert (await checks.get(uuid)).state.status is CheckStatus.LATE
            await engine.evaluate_and_deliver()
            assert slack.requests == []
            # Down (past 07:17): one alert to each channel; evaluating again sends nothing.
            clock.advance(6 * 60)
            assert (await checks.get(uuid)).state.status is CheckStatus.DOWN
            await engine.evaluate_and_deliver()
            clock.advance(60)
            await engine.evaluate_and_deliver()
            assert len(slack.requests) == 1 and len(hook.requests) == 1
            # A ping: up again, and a recovery notice with how long it lasted.
            clock.advance(14 * 60)
            result = await checks.ping(PingRequest(action="0"), uuid=uuid)
            assert result.view.state.status is CheckStatus.UP
            await engine.evaluate_and_deliver()

    titles = [slack.json(i)["text"] for i in range(len(slack.requests))]
    assert titles == [
        "[FIRING] backups-down on check:db-backup",
        "[RESOLVED] backups-down on check:db-backup after 15m",
    ]
    fields = [f["text"] for f in slack.json(0)["blocks"][1]["fields"]]
    assert "*Check*\ndb-backup" in fields
    assert any("https://tw.example.com/checks/db-backup" in f for f in fields)
    assert "no ping since 2026-06-01 06:02:00 UTC" in slack.json(0)["blocks"][1]["text"]["text"]
    signed = [hook.json(i) for i in range(len(hook.requests))]
    assert [(h["kind"], h["subject"]) for h in signed] == [
        ("firing", "check:db-backup"),
        ("resolved", "check:db-backup"),
    ]
    # The untagged check (down all along) is not a subject of a rule scoped to the tag, and
    # the rule for one check by name watches only that one (which does not exist).
    states = await store.alert_states()
    assert set(states) == {AlertKey("backups-down", "check:db-backup")}
    assert states[AlertKey("backups-down", "check:db-backup")].status is Status.OK
    history = await store.alert_history(TransitionQuery(rule="backups-down"))
    assert [(h.to_status, [k.value for k in h.sent]) for h in reversed(history)] == [
        (Status.FIRING, ["firing"]),
        (Status.OK, ["resolved"]),
    ]
    deliveries = await store.query_jobs(JobQuery(task_name=NOTIFY_TASK, limit=100))
    assert len(deliveries) == 4 and {j.state for j in deliveries} == {JobState.SUCCEEDED}


async def test_a_run_that_never_finishes_and_a_failure_ping_alert_too(store: SqlStore) -> None:
    with http_receiver("hook") as (hook_url, hook):
        alerts = alerts_from_table(
            {
                "rules": [{"name": "any-down", "kind": "check_down", "channels": ["hook"]}],
                "channels": {"hook": {"type": "webhook", "url": hook_url, "secret": "${S}"}},
            },
            {"S": HOOK_SECRET},
        )
        clock = FakeClock(START)
        checks = Checks(Context(store, clock=clock))
        made = await checks.create({"name": "etl", "period": "1d", "grace": "30m"})
        async with Engine(store, clock, alerts) as engine:
            await checks.ping(PingRequest(action="start", rid="run-1"), uuid=made.check.uuid)
            clock.advance(29 * 60)
            await engine.evaluate_and_deliver()
            assert hook.requests == []
            clock.advance(2 * 60)  # started 31 minutes ago: down
            await engine.evaluate_and_deliver()
            await checks.ping(PingRequest(rid="run-1"), name="etl")
            await engine.evaluate_and_deliver()
            clock.advance(60)
            await checks.ping(PingRequest(action="fail", body=b"disk full"), name="etl")
            await engine.evaluate_and_deliver()
    sent = [hook.json(i) for i in range(len(hook.requests))]
    assert [s["kind"] for s in sent] == ["firing", "resolved", "firing"]
    assert "did not finish within 30m" in sent[0]["why"]
    assert "failure reported" in sent[2]["why"]

"""The alert engine end to end, on SQLite and PostgreSQL: runs of a real worker, the evaluator
stepping the rules at a fake clock's times, and the notices delivered as jobs of
``tickwork.notify`` to a Slack-like receiver, a receiver verifying the HMAC signature and an
SMTP server (aiosmtpd, STARTTLS and a login)."""

from __future__ import annotations

import asyncio
import ssl
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.runtime.alert_support import Engine, python_task
from tests.runtime.receivers import (
    HOOK_SECRET,
    SMTP_PASSWORD,
    SMTP_USER,
    closed_port,
    http_receiver,
    make_certificate,
    smtp_server,
)
from tickwork.clock import FakeClock
from tickwork.config.alerts import alerts_from_table
from tickwork.domain.alert_records import TransitionQuery
from tickwork.domain.jobs import JobState
from tickwork.domain.queries import JobQuery
from tickwork.domain.tasks import TaskSource
from tickwork.runtime.evaluator import Evaluator
from tickwork.runtime.notify.delivery import NOTIFY_TASK
from tickwork.store import SqlStore, create_store

START = datetime(2026, 6, 1, 1, 0, tzinfo=UTC)  # a Monday, 01:00 UTC


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return make_certificate(tmp_path_factory.mktemp("tls"))


def settings(rules: list[dict[str, Any]], channels: dict[str, Any]) -> Any:
    table = {
        "base_url": "https://tw.example.com",
        "flap_flips": 3,
        "flap_window": "30m",
        "rules": rules,
        "channels": channels,
    }
    return alerts_from_table(table, {"HOOK_SECRET": HOOK_SECRET, "SMTP_PASSWORD": SMTP_PASSWORD})


async def test_streaks_grace_mute_reminders_flapping_and_recovery_reach_every_channel(
    store: SqlStore, certificate: tuple[Path, Path]
) -> None:
    cert, key = certificate
    with (
        http_receiver("slack") as (slack_url, slack),
        http_receiver("hook") as (hook_url, hook),
        smtp_server(cert, key, implicit_tls=False) as (smtp_port, mailbox),
    ):
        alerts = settings(
            [
                {
                    "name": "etl-failing",
                    "kind": "consecutive_failures",
                    "count": 2,
                    "task": "etl",
                    "realert": "1h",
                    "maintenance": ["daily 02:00-04:00"],
                    "channels": ["slack", "hook", "mail"],
                },
                {
                    "name": "nightly-late",
                    "kind": "missed_fire",
                    "grace": "5m",
                    "task": "nightly",
                    "channels": ["slack"],
                },
            ],
            {
                "slack": {"type": "slack", "webhook_url": f"{slack_url}/services/T/B/x"},
                "hook": {"type": "webhook", "url": f"{hook_url}/tw", "secret": "${HOOK_SECRET}"},
                "mail": {
                    "type": "email",
                    "host": "127.0.0.1",
                    "port": smtp_port,
                    "username": SMTP_USER,
                    "password": "${SMTP_PASSWORD}",
                    "from": "tickwork@example.com",
                    "to": ["ops@example.com"],
                },
            },
        )
        clock = FakeClock(START)
        trusting = ssl.create_default_context(cafile=str(cert))
        # nightly's 01:00 fire is due and no scheduler makes it: late from 01:00 on.
        await store.sync_tasks(
            [python_task("etl"), python_task("nightly", "0 1 * * *")],
            [TaskSource.CODE],
            {"nightly": START},
            START,
        )
        async with Engine(store, clock, alerts, trusting) as engine:
            # Within the grace of the late fire, and one failure: nothing.
            await engine.run("etl", "failed", minutes=2)
            await engine.evaluate_and_deliver()
            assert slack.requests == []
            # A streak: one alert at its second failure (and the fire now 6 minutes late).
            await engine.run("etl", "failed", minutes=4)
            await engine.evaluate_and_deliver()
            await engine.run("etl", "failed", minutes=4)
            await engine.evaluate_and_deliver()
            await engine.run("etl", "succeeded", minutes=10)  # recovered after 14 minutes
            await engine.evaluate_and_deliver()
            # In the maintenance window (02:00-04:00): a streak and its end send nothing.
            clock.set(START + timedelta(hours=1, minutes=10))
            for status in ("failed", "failed", "failed", "succeeded"):
                await engine.run("etl", status, minutes=10)
                await engine.evaluate_and_deliver()
            # After it: a streak, a reminder an hour on, the recovery.
            clock.set(START + timedelta(hours=4))
            await engine.run("etl", "failed", minutes=1)
            await engine.run("etl", "failed", minutes=9)  # 05:10 firing
            await engine.evaluate_and_deliver()
            await engine.run("etl", "failed", minutes=30)
            await engine.evaluate_and_deliver()
            await engine.run("etl", "failed", minutes=30)  # an hour on: a reminder
            await engine.evaluate_and_deliver()
            await engine.run("etl", "succeeded", minutes=5)  # resolved after 1h5m
            await engine.evaluate_and_deliver()
            # Changes every two minutes: flapping is told once, the rest held.
            for status in ("failed", "failed", "succeeded", "failed", "failed", "succeeded"):
                await engine.run("etl", status, minutes=2)
                await engine.evaluate_and_deliver()
            for status in ("failed", "failed", "succeeded"):
                await engine.run("etl", status, minutes=2)
                await engine.evaluate_and_deliver()
            # Stable for a whole window: settled where receivers were last told (ok).
            await engine.run("etl", "succeeded", minutes=31)
            await engine.evaluate_and_deliver()

    etl = [
        "[FIRING] etl-failing on task:etl",
        "[RESOLVED] etl-failing on task:etl after 14m",
        "[FIRING] etl-failing on task:etl",
        "[REALERT] etl-failing on task:etl",
        "[RESOLVED] etl-failing on task:etl after 1h5m",
        "[FIRING] etl-failing on task:etl",
        "[RESOLVED] etl-failing on task:etl after 2m",
        "[FLAPPING] etl-failing on task:etl",
    ]
    slack_titles = [slack.json(i)["text"] for i in range(len(slack.requests))]
    late = "[FIRING] nightly-late on task:nightly"
    assert [t for t in slack_titles if t != late] == etl
    assert slack_titles.count(late) == 1
    hook_titles = [hook.json(i) for i in range(len(hook.requests))]
    assert [f"[{h['kind'].upper()}] {h['rule']} on {h['subject']}" for h in hook_titles] == [
        t.split(" after")[0] for t in etl
    ]
    assert all(len(r[1]["x-tickwork-signature"]) > 10 for r in hook.requests)
    assert [m["Subject"] for _, _, m in mailbox.messages] == etl
    first = slack.json(slack_titles.index(etl[0]))
    assert first["blocks"][3]["elements"][0]["url"].startswith("https://tw.example.com/runs/")

    # Every transition is stored with what was sent, where, and its delivery jobs.
    history = await store.alert_history(TransitionQuery(rule="etl-failing", limit=500))
    sent = [h for h in reversed(history) if h.sent]
    assert [h.sent[0].value for h in sent] == [
        "firing", "resolved", "firing", "realert", "resolved", "firing", "resolved", "flapping"
    ]  # fmt: skip
    assert all(h.channels == ("slack", "hook", "mail") and len(h.job_ids) == 3 for h in sent)
    deliveries = await store.query_jobs(JobQuery(task_name=NOTIFY_TASK, limit=1000))
    assert len(deliveries) == 3 * len(etl) + 1
    assert {j.state for j in deliveries} == {JobState.SUCCEEDED}
    health = await store.channel_health()
    assert {name: h.failures for name, h in health.items()} == {"slack": 0, "hook": 0, "mail": 0}


async def test_a_receiver_that_was_down_gets_the_alert_when_it_is_back(store: SqlStore) -> None:
    port = closed_port()
    with http_receiver("hook") as (hook_url, hook):
        alerts = settings(
            [
                # etl-failing goes to ops (down), channel-down to the hook.
                {
                    "name": "etl-failing",
                    "kind": "consecutive_failures",
                    "count": 1,
                    "channels": ["ops"],
                },
                {
                    "name": "channel-down",
                    "kind": "channel_failing",
                    "failures": 1,
                    "channels": ["hook"],
                },
            ],
            {
                "ops": {"type": "slack", "webhook_url": f"http://127.0.0.1:{port}/services/x"},
                "hook": {"type": "webhook", "url": f"{hook_url}/tw", "secret": "${HOOK_SECRET}"},
            },
        )
        clock = FakeClock(START)
        await store.sync_tasks([python_task("etl")], [TaskSource.CODE], {}, START)
        async with Engine(store, clock, alerts) as engine:
            await engine.run("etl", "failed", minutes=1)
            await engine.evaluate_and_deliver()
            [job] = await store.query_jobs(JobQuery(task_name=NOTIFY_TASK))
            assert job.state is JobState.RETRYING and job.attempt == 1
            assert (await store.channel_health())["ops"].failures == 1
            # The failing channel is an alert of its own, told on the channel that works.
            await engine.evaluate_and_deliver()
            assert [hook.json(i)["subject"] for i in range(len(hook.requests))] == ["channel:ops"]
            with http_receiver("slack", port=port) as (_, slack):
                clock.advance(3600)  # past the retry's backoff
                await engine.delivered()
                assert [slack.json(i)["text"] for i in range(len(slack.requests))] == [
                    "[FIRING] etl-failing on task:etl"
                ]
            assert (await store.channel_health())["ops"].failures == 0
            await engine.evaluate_and_deliver()
    subjects = [(hook.json(i)["kind"], hook.json(i)["subject"]) for i in range(len(hook.requests))]
    assert subjects == [("firing", "channel:ops"), ("resolved", "channel:ops")]


@pytest.mark.postgres
async def test_two_evaluators_on_one_postgresql_send_each_transition_once(pg_url: str) -> None:
    stores = [create_store(pg_url) for _ in range(2)]
    for s in stores:
        await s.open()
    try:
        with http_receiver("slack") as (slack_url, slack):
            alerts = settings(
                [
                    {
                        "name": "etl-failing",
                        "kind": "consecutive_failures",
                        "count": 2,
                        "channels": ["slack"],
                    }
                ],
                {"slack": {"type": "slack", "webhook_url": f"{slack_url}/services/T/B/x"}},
            )
            clock = FakeClock(START)
            await stores[0].sync_tasks([python_task("etl")], [TaskSource.CODE], {}, START)
            async with Engine(stores[0], clock, alerts) as engine:
                other = Evaluator(stores[1], alerts, clock=clock)

                async def both() -> None:
                    await asyncio.gather(engine.evaluator.evaluate(), other.evaluate())
                    await engine.delivered()

                for _ in range(3):
                    for status in ("failed", "failed", "failed", "succeeded"):
                        await engine.run("etl", status, minutes=20)
                        await both()
                        await both()  # and again: nothing more to send
        titles = [slack.json(i)["text"] for i in range(len(slack.requests))]
        assert (
            titles
            == ["[FIRING] etl-failing on task:etl", "[RESOLVED] etl-failing on task:etl after 40m"]
            * 3
        )
        history = await stores[0].alert_history(TransitionQuery(limit=100))
        assert len(history) == 6
        evaluations = [engine.evaluator.last, other.last]
        assert all(e is not None for e in evaluations)
    finally:
        for s in stores:
            await s.close()

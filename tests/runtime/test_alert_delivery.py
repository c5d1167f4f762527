"""A rule's states driven by observations, its notices delivered to a real Slack-like receiver:
one alert per failure streak, none in a mute, re-alerts at the interval, one flapping notice,
a recovery notice; the receiver sees exactly those messages."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tests.runtime.receivers import http_receiver
from tickwork.clock import FakeClock
from tickwork.domain.alert_states import AlertState, step
from tickwork.domain.alerts import AlertRule, ConsecutiveFailures, RunFact, SubjectFacts
from tickwork.domain.channels import Secret, SlackChannel
from tickwork.runtime.notify import Notifier

START = datetime(2026, 6, 1, 8, 0, tzinfo=UTC)


async def test_a_streak_a_mute_reminders_flapping_and_recovery_reach_slack() -> None:
    rule = AlertRule(
        "etl-failing",
        ConsecutiveFailures(count=2),
        realert_seconds=3600,
        flap_flips=3,
        flap_window_seconds=1800,
        muted_until=START + timedelta(hours=20),
    )
    policy = rule.policy
    clock = FakeClock(START)
    history: list[RunFact] = []
    state = AlertState()
    with http_receiver("slack") as (url, received):
        notifier = Notifier(base_url="https://tw.example.com", clock=clock, timeout_seconds=5)
        channel = SlackChannel("ops", Secret(f"{url}/services/T/B/x"))

        async def run(status: str, minutes: float) -> None:
            nonlocal state
            now = clock.advance(minutes * 60)
            history.insert(0, RunFact(status, now, 1.0, f"run{len(history)}", "boom"))
            facts = SubjectFacts("task:etl", task="etl", runs=tuple(history))
            result = step(state, rule.condition.check(facts, now), now, policy)
            state = result.state
            for notification in result.notifications:
                await notifier.send(channel, notification)

        # Inside the mute (first 20 hours): a streak and its recovery send nothing.
        for status in ("failed", "failed", "failed", "succeeded"):
            await run(status, 60)
        assert received.requests == []
        clock.set(START + timedelta(hours=21))
        # A streak: one alert at its second failure, none for the next, a reminder an hour on.
        await run("failed", 10)
        await run("failed", 10)  # firing
        await run("failed", 30)
        await run("failed", 30)  # an hour since the alert: re-alert
        await run("succeeded", 5)  # resolved, after 65 minutes
        # Changes every few minutes: the 4th within 30 minutes says "flapping", once.
        await run("failed", 2)
        await run("failed", 2)  # firing: the 2nd change in the window
        await run("succeeded", 2)  # resolved: the 3rd
        await run("failed", 2)
        await run("failed", 2)  # the 4th: flapping
        await run("succeeded", 2)
        await run("failed", 2)
        await run("failed", 2)
        await run("succeeded", 2)  # all held while flapping
        # No change for a whole window: it settles ok, which receivers were last told.
        await run("succeeded", 31)
        await notifier.aclose()
    titles = [received.json(i)["text"] for i in range(len(received.requests))]
    assert titles == [
        "[FIRING] etl-failing on task:etl",
        "[REALERT] etl-failing on task:etl",
        "[RESOLVED] etl-failing on task:etl after 1h5m",
        "[FIRING] etl-failing on task:etl",
        "[RESOLVED] etl-failing on task:etl after 2m",
        "[FLAPPING] etl-failing on task:etl",
    ]
    first = received.json(0)["blocks"]
    assert first[3]["elements"][0]["url"] == "https://tw.example.com/runs/run5"
    assert not state.flapping and not state.announced

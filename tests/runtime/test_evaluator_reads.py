"""The evaluator's reads on SQLite and PostgreSQL: one statement per kind of fact whatever the
number of rules, tasks and checks (counted with SQLAlchemy's ``before_cursor_execute`` on the
store's engine), so a tick of thousands of rules is not thousands of round trips."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa

from tests.runtime.alert_support import python_task
from tickwork.clock import FakeClock
from tickwork.config.alerts import alerts_from_table
from tickwork.domain.checks import CheckSource, CheckSpec, new_check
from tickwork.domain.tasks import TaskSource
from tickwork.runtime.evaluator import Evaluator
from tickwork.service.alerts import Alerts
from tickwork.service.context import Context
from tickwork.store import SqlStore

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


def rules_for(tasks: int) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    for i in range(tasks):
        name = f"t{i}"
        found += [
            {"name": f"{name}-failing", "kind": "consecutive_failures", "count": 3, "task": name},
            {"name": f"{name}-window", "kind": "failure_window", "runs": 10, "task": name},
            {"name": f"{name}-slow", "kind": "long_run", "p95_factor": 3.0, "task": name},
            {"name": f"{name}-missed", "kind": "missed_fire", "task": name},
            {"name": f"{name}-batch", "kind": "batch_failures", "task": name},
            {"name": f"{name}-auto-off", "kind": "auto_disabled", "task": name},
            {"name": f"{name}-auto-moved", "kind": "auto_rescheduled", "task": name},
        ]
    return [
        *found,
        {"name": "checks", "kind": "check_down"},
        {"name": "backlog", "kind": "backlog_age"},
        {"name": "processors", "kind": "processor_down"},
    ]


async def statements_of_a_tick(store: SqlStore, tasks: int) -> int:
    """Statements of an evaluation with nothing new, after one that stored what it found."""
    await store.add_missing_tasks([python_task(f"t{i}") for i in range(tasks)], {}, NOW)
    for i in range(tasks):
        spec = CheckSpec(f"c{i}", period_seconds=3600.0)
        await store.create_check(new_check(spec, CheckSource.API, NOW))
    table = {
        "rules": rules_for(tasks),
        "channels_default": ["ops"],
        "channels": {"ops": {"type": "webhook", "url": "http://127.0.0.1:9/", "secret": "s"}},
    }
    evaluator = Evaluator(store, alerts_from_table(table, {}), clock=FakeClock(NOW))
    await evaluator.evaluate()
    sent = [0]

    def count(*_: Any) -> None:
        sent[0] += 1

    sa.event.listen(store.engine, "before_cursor_execute", count)
    try:
        done = await evaluator.evaluate()
    finally:
        sa.event.remove(store.engine, "before_cursor_execute", count)
    assert done.subjects == tasks * 7 + tasks + 1  # every pair was evaluated
    assert done.stored == 0
    return sent[0]


async def test_statements_per_tick_do_not_grow_with_rules(store: SqlStore) -> None:
    assert TaskSource.CODE  # the tasks are a producer's (python_task)
    few = await statements_of_a_tick(store, 3)
    # More tasks than any chunk of names a statement once took (200): still one per kind.
    many = await statements_of_a_tick(store, 260)
    assert many == few


async def test_a_wake_up_for_some_jobs_steps_only_their_rules(store: SqlStore) -> None:
    """``evaluate(only=...)``: the per-job rules of those jobs, nothing else; the next full
    evaluation steps everything."""
    await store.add_missing_tasks([python_task(f"t{i}") for i in range(5)], {}, NOW)
    table = {
        "rules": rules_for(5),
        "channels_default": ["ops"],
        "channels": {"ops": {"type": "webhook", "url": "http://127.0.0.1:9/", "secret": "s"}},
    }
    evaluator = Evaluator(store, alerts_from_table(table, {}), clock=FakeClock(NOW))
    # A state stored for every job's subject (a mute), so a wake-up that read other jobs'
    # stored states would step them too.
    alerts = Alerts(Context(store, clock=FakeClock(NOW), resolve=None, alerts=evaluator.settings))
    for i in range(5):
        await alerts.mute(f"t{i}-failing", f"task:t{i}", NOW + timedelta(days=1))
    some = await evaluator.evaluate(["t1", "t3", "gone"])
    assert some.subjects == 2 * 7  # t1's and t3's per-job rules; no check, queue or processor
    assert (await evaluator.evaluate([])).subjects == 0
    assert (await evaluator.evaluate()).subjects == 5 * 7 + 1  # the queue's backlog rule too


async def test_the_loop_steps_everything_each_interval_however_often_woken(
    store: SqlStore, monkeypatch: Any
) -> None:
    import asyncio

    from tickwork.runtime import evaluator as module

    monkeypatch.setattr(module, "WAKE_GATHER_SECONDS", 0.01)
    await store.add_missing_tasks([python_task("t0")], {}, NOW)
    table = {
        "rules": rules_for(1),
        "channels_default": ["ops"],
        "channels": {"ops": {"type": "webhook", "url": "http://127.0.0.1:9/", "secret": "s"}},
    }
    asked: list[frozenset[str] | None] = []

    class Watched(Evaluator):
        async def evaluate(self, only: Any = None) -> Any:
            asked.append(None if only is None else frozenset(only))
            return await super().evaluate(only)

    evaluator = Watched(
        store, alerts_from_table(table, {}), clock=FakeClock(NOW), interval_seconds=0.5
    )
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 20.0
    await evaluator.start()
    try:
        # Woken every 10 ms, never idle for a whole interval, until the tick came again (a
        # starved tick never comes: the deadline then fails the test).
        while loop.time() < deadline and (asked.count(None) < 2 or frozenset({"t0"}) not in asked):
            evaluator.wake(["t0"])
            await asyncio.sleep(0.01)
    finally:
        await evaluator.stop()
    assert asked[0] is None  # the first evaluation steps everything
    assert frozenset({"t0"}) in asked  # wake-ups step their job
    assert asked.count(None) >= 2, asked  # and the tick still comes

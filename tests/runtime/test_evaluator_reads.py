"""The evaluator's reads on SQLite and PostgreSQL: one statement per kind of fact whatever the
number of rules, tasks and checks (counted with SQLAlchemy's ``before_cursor_execute`` on the
store's engine), so a tick of thousands of rules is not thousands of round trips."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from tests.runtime.alert_support import python_task
from tickwork.clock import FakeClock
from tickwork.config.alerts import alerts_from_table
from tickwork.domain.checks import CheckSource, CheckSpec, new_check
from tickwork.domain.tasks import TaskSource
from tickwork.runtime.evaluator import Evaluator
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

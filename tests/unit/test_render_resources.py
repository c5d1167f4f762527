"""How the CLI shows what a run used and who asked for it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tickwork.cli.render import by_text, cpu_text
from tickwork.domain.jobs import ResourceScope, Run, RunStatus, TriggeredBy

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def run(scope: ResourceScope | None, cpu: float | None, percent: float | None) -> Run:
    return Run(
        1, 1, "t", 1, RunStatus.SUCCEEDED, TriggeredBy.API, T0, T0 + timedelta(seconds=1),
        "w", None, None, None, None, None, None, None,
        cpu_seconds=cpu, cpu_percent=percent, resource_scope=scope,
    )  # fmt: skip


def test_cpu_is_marked_when_it_is_not_the_jobs_own() -> None:
    assert cpu_text(run(ResourceScope.PROCESS, 0.421, 42.4)) == "0.42s (42%)"
    assert cpu_text(run(ResourceScope.THREAD, 0.1, 95.0)) == "thread 0.10s (95%)"
    assert cpu_text(run(ResourceScope.WORKER, 0.01, 3.0)) == "worker share 0.01s (3%)"
    assert cpu_text(run(None, None, None)) == "-"


def test_by_names_the_requester_when_there_is_one() -> None:
    assert by_text("manual", "alice") == "manual (alice)"
    assert by_text("scheduler", None) == "scheduler"

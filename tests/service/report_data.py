"""Known runs, missed fires, failures, pauses and alert transitions written through the store,
for the weekly report's tests; and a parser that reads the report's figures back from its HTML.

Every time is relative to ``now``; the report then covers ``[UTC midnight 7 days back, now)``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from typing import Any

from tests.service.failing import fail_job
from tickwork.config.alerts import AlertSettings, alerts_from_table
from tickwork.domain.activity import MissedReason, NewMissedFire
from tickwork.domain.alert_records import AlertKey, AlertWrite
from tickwork.domain.alert_states import AlertState, Status, Transition
from tickwork.domain.jobs import Completion, JobState, NewJob, Outcome, RunStatus, TriggeredBy
from tickwork.domain.tasks import PythonTarget, ShellTarget, TaskDefinition, TaskPause, TaskSource
from tickwork.store.base import Store

RULE = "etl-failing"
# The successful runs' durations (seconds) of "hourly" in the range and in the span before.
HOURLY_NOW = [1.0, 1.2, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0, 8.0, 10.0]
HOURLY_BEFORE = [1.0, 1.0, 1.2, 1.5, 2.0]


def report_start(now: datetime) -> datetime:
    """Where a 7-day report made at ``now`` starts: the statistics read whole UTC days."""
    back = now - timedelta(days=7)
    return datetime(back.year, back.month, back.day, tzinfo=UTC)


def alert_settings(slack_url: str = "https://hooks.example.com/services/T/B/x") -> AlertSettings:
    return alerts_from_table(
        {
            "rules": [{"name": RULE, "kind": "consecutive_failures", "count": 1}],
            "channels_default": ["ops"],
            "channels": {"ops": {"type": "slack", "webhook_url": slack_url}},
        },
        {},
    )


@dataclass
class Seeded:
    now: datetime
    start: datetime
    created: datetime
    notes: dict[str, Any] = field(default_factory=dict)


async def seed(store: Store, now: datetime) -> Seeded:
    start = report_start(now)
    created = start - timedelta(days=30)
    defs = [
        TaskDefinition("hourly", ShellTarget("true"), schedule="0 * * * *"),
        TaskDefinition("daily", ShellTarget("true"), schedule="every 1d"),
        TaskDefinition("adhoc", ShellTarget("true")),
        TaskDefinition("idle", ShellTarget("true")),
        TaskDefinition("nightly", ShellTarget("true"), schedule="0 2 * * *"),
        TaskDefinition("off", ShellTarget("true"), schedule="0 3 * * *", enabled=False),
        TaskDefinition(
            "tickwork.notify",
            PythonTarget("tickwork.runtime.notify.delivery:deliver"),
            source=TaskSource.BUILTIN,
        ),
    ]
    for d in defs:
        source = TaskSource.BUILTIN if d.source is TaskSource.BUILTIN else TaskSource.API
        await store.create_task(d, source, None, created)
    # A job created inside the range expects the fires from its creation on.
    late = TaskDefinition("newjob", ShellTarget("true"), schedule="0 * * * *")
    await store.create_task(late, TaskSource.API, None, now - timedelta(hours=20, minutes=30))
    await store.pause_task(
        "nightly",
        TaskPause(now - timedelta(days=2), "cli:ada", "database migration", None),
    )

    await runs(
        store, "hourly", [(start + timedelta(hours=i + 1), d) for i, d in enumerate(HOURLY_NOW)]
    )
    before = start - timedelta(days=3)
    await runs(
        store, "hourly", [(before + timedelta(hours=i), d) for i, d in enumerate(HOURLY_BEFORE)]
    )
    await runs(store, "daily", [(start + timedelta(days=i, minutes=1), 30.0) for i in range(7)])
    await runs(store, "adhoc", [(start + timedelta(days=2), 0.5)])
    await runs(store, "tickwork.notify", [(start + timedelta(days=1), 0.2)])
    # Two failures of one error in "hourly" (numbers differ), one other error in "adhoc".
    await fail_job(store, "hourly", "row 17 rejected", start + timedelta(days=3))
    await fail_job(store, "hourly", "row 230 rejected", start + timedelta(days=4))
    await fail_job(store, "adhoc", "disk full", start + timedelta(days=5), error_type="OSError")
    # Missed fires: two in the range, one before it (not counted).
    await store.add_missed_fires(
        [
            NewMissedFire("hourly", start + timedelta(days=1, hours=5), MissedReason.NO_SCHEDULER),
            NewMissedFire("hourly", start + timedelta(days=1, hours=6), MissedReason.NO_SCHEDULER),
            NewMissedFire("hourly", start - timedelta(days=1), MissedReason.MISFIRE),
        ],
        now,
    )

    # Incidents: one of 3 h in the range; one that began before the range and ended in it;
    # one still firing; one entirely before the range (left out).
    await incident(store, "task:hourly", start + timedelta(days=1, hours=10), timedelta(hours=3))
    await incident(store, "task:daily", start - timedelta(days=2), timedelta(days=3))
    await incident(store, "task:adhoc", now - timedelta(hours=24), None)
    await incident(store, "task:old", start - timedelta(days=20), timedelta(hours=1))
    return Seeded(now=now, start=start, created=created)


async def runs(store: Store, name: str, specs: list[tuple[datetime, float]]) -> None:
    """Succeeded runs of ``name`` starting at each time, lasting each duration."""
    for started, seconds in specs:
        (job_id,) = await store.enqueue([NewJob(name, started, TriggeredBy.SCHEDULER)], started)
        (job,) = await store.claim("test-worker", 1, started, 60)
        assert job.id == job_id
        await store.complete(
            [
                Completion(
                    job_id=job_id,
                    task_name=name,
                    attempt=job.attempt,
                    triggered_by=TriggeredBy.SCHEDULER,
                    worker_id="test-worker",
                    started_at=started,
                    finished_at=started + timedelta(seconds=seconds),
                    outcome=Outcome(RunStatus.SUCCEEDED),
                    next_state=JobState.SUCCEEDED,
                )
            ]
        )


async def incident(store: Store, subject: str, fired: datetime, lasted: timedelta | None) -> None:
    """An alert of ``RULE`` on ``subject`` firing at ``fired`` and resolved after ``lasted``
    (None: still firing), with an acknowledgement in between (no change of status)."""
    key = AlertKey(RULE, subject)
    firing = AlertState(Status.FIRING, fired, "3 failures in a row", True, fired, version=1)
    await store.write_alerts(
        [
            AlertWrite(
                key,
                firing,
                Transition(fired, Status.OK, Status.FIRING, "3 failures in a row", (), 0, 1),
            )
        ],
        fired,
    )
    acked_at = fired + timedelta(minutes=1)
    acked = AlertState(
        Status.FIRING,
        fired,
        "3 failures in a row",
        True,
        fired,
        acked_by="ada",
        acked_at=acked_at,
        version=2,
    )
    await store.write_alerts(
        [
            AlertWrite(
                key,
                acked,
                Transition(acked_at, Status.FIRING, Status.FIRING, "acknowledged", (), 1, 2),
            )
        ],
        acked_at,
    )
    if lasted is None:
        return
    ended = fired + lasted
    ok = AlertState(Status.OK, ended, "recovered", version=3)
    await store.write_alerts(
        [AlertWrite(key, ok, Transition(ended, Status.FIRING, Status.OK, "recovered", (), 2, 3))],
        ended,
    )


class ReportPage(HTMLParser):
    """The figures of a drawn report: ``figures`` (``data-figure``), and per job, failure,
    incident, paused job or check row its ``data-col`` cells (and the row's text)."""

    ROWS = (
        "data-job",
        "data-fingerprint",
        "data-incident",
        "data-paused",
        "data-disabled",
        "data-check",
    )

    def __init__(self, html: str) -> None:
        super().__init__()
        self.figures: dict[str, str] = {}
        self.rows: dict[str, dict[str, dict[str, str]]] = {r[5:]: {} for r in self.ROWS}
        self.styled = 0
        self.classed = 0
        self.tags: set[str] = set()
        self._figure: str | None = None
        self._row: tuple[str, str] | None = None
        self._col: str | None = None
        self._text: list[str] = []
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        self.tags.add(tag)
        self.styled += "style" in found
        self.classed += "class" in found
        if "data-figure" in found:
            self._figure, self._text = found["data-figure"], []
        for name in self.ROWS:
            if name in found:
                kind = name[5:]
                self._row = (kind, found[name] or "")
                self.rows[kind][self._row[1]] = {}
        if "data-col" in found:
            self._col, self._text = found["data-col"], []

    def handle_data(self, data: str) -> None:
        if self._figure is not None or self._col is not None:
            self._text.append(data)

    def handle_endtag(self, tag: str) -> None:
        text = "".join(self._text).strip()
        if tag == "span" and self._figure is not None:
            self.figures[self._figure] = text
            self._figure = None
        if tag == "td" and self._col is not None and self._row is not None:
            self.rows[self._row[0]][self._row[1]][self._col] = text
            self._col = None
        if tag == "tr":
            self._row = None

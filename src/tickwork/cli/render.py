"""Rendering domain objects for the terminal: JSON-able dicts, and tables that fit the terminal.

A job, a run, a run event, a missed fire, a processor, a user, a token and an audit entry have
the shapes the REST API shows too (``tickwork.wire``, imported only when one becomes a dict); a
definition has the CLI's own (``task_dict``).

A table never wraps a cell: when the terminal is too narrow, free-text columns (descriptions,
errors, reported metrics) are cut with an ellipsis first, then whole columns are left out,
least important first; ``--wide`` shows every column in full, however wide. rich is imported
only to print a table.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pydantic import BaseModel

    from tickwork.domain.access import ApiToken, AuditEntry, User
    from tickwork.domain.activity import MissedFire, RunEvent
    from tickwork.domain.autoschedule import Override
    from tickwork.domain.jobs import Job, Run
    from tickwork.domain.retention import PruneReport
    from tickwork.domain.tasks import Task, TaskPause
    from tickwork.service.stats import StatsReport
    from tickwork.service.status import ProcessorStatus
    from tickwork.wire import MissedCountOut

# The narrowest a free-text column gets before whole columns are left out.
FLEX_MIN_WIDTH = 10
# What a rich table with the default box and padding adds around its cells: "│ " before each
# column, " " after it, and the closing "│".
_CELL_OVERHEAD = 3
_EDGE_OVERHEAD = 1
_ONE_LINE = str.maketrans("\n\r\t", "   ")


def iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


# The CLI's view of a definition, not the API's (``api.schemas.definitions.JobOut``): its
# settings spelled out for people reading ``jobs show``, rather than a [[jobs]] table.
def task_dict(task: Task) -> dict[str, Any]:
    from tickwork.domain.schedule_words import describe_schedule
    from tickwork.domain.tasks import target_to_dict

    d = task.definition
    return {
        "name": d.name,
        "kind": d.kind.value,
        "target": target_to_dict(d.target),
        "schedule": d.schedule,
        "schedule_words": describe_schedule(d.schedule, d.timezone) if d.schedule else None,
        "timezone": d.timezone,
        "timeout_seconds": d.timeout_seconds,
        "max_retries": d.retry.max_retries,
        "backoff": {
            "base_seconds": d.retry.base_seconds,
            "factor": d.retry.factor,
            "cap_seconds": d.retry.cap_seconds,
            "jitter": d.retry.jitter,
        },
        "retry_on": list(d.retry.retry_on),
        "no_retry_on": list(d.retry.no_retry_on),
        "max_interruptions": d.retry.max_interruptions,
        "enabled": d.enabled,
        "removed": task.removed,
        "description": d.description,
        "priority": d.priority,
        "tags": list(d.tags),
        "source": d.source.value,
        "next_fire_at": iso(task.next_fire_at),
        "last_fire_at": iso(task.last_fire_at),
        "created_at": iso(task.created_at),
        "updated_at": iso(task.updated_at),
        "paused": task.pause is not None,
        "pause": pause_dict(task.pause),
        "auto": auto_dict(task.auto),
        "after": [a.to_dict() for a in d.policies.after],
        "requires": [r.to_dict() for r in d.policies.requires],
    }


def auto_dict(auto: Override) -> dict[str, Any] | None:
    from tickwork.wire import auto_out

    out = auto_out(auto)
    return None if out is None else shown(out)


def auto_text(auto: Override, name: str) -> str:
    """What auto-rescheduling changed, on one line: ``every 2nd fire (since 2026-…)``."""
    if not auto.active:
        return "-"
    since = "" if auto.changed_at is None else f" (since {iso(auto.changed_at)})"
    return f"{auto.describe()}{since}; undo: tickwork jobs undo-reschedule {name}"


def pause_dict(pause: TaskPause | None) -> dict[str, Any] | None:
    from tickwork.wire import pause_out

    shape = pause_out(pause)
    return None if shape is None else shown(shape)


def pause_text(pause: TaskPause | None) -> str:
    """A pause on one line: ``until 2026-12-07 08:00:00 (by cli:ann): deploy``."""
    if pause is None:
        return "-"
    until = short_until(pause.until) or "until resumed"
    return f"{until} (by {pause.paused_by}): {pause.reason}".translate(_ONE_LINE)


def shown(model: BaseModel) -> dict[str, Any]:
    """A shape shared with the REST API (``tickwork.wire``) as the CLI shows it: its fields,
    times in ISO 8601 as ``iso`` writes them, at any depth."""
    data: dict[str, Any] = _iso_times(model.model_dump())
    return data


def job_dict(job: Job) -> dict[str, Any]:
    from tickwork.wire import queue_job_out

    return shown(queue_job_out(job))


def run_dict(run: Run) -> dict[str, Any]:
    from tickwork.wire import run_detail_out

    return shown(run_detail_out(run))


def processor_dict(status: ProcessorStatus) -> dict[str, Any]:
    from tickwork.wire import processor_out

    return shown(processor_out(status))


def user_dict(user: User) -> dict[str, Any]:
    from tickwork.wire import user_out

    return shown(user_out(user))


def token_dict(token: ApiToken, secret: str | None = None) -> dict[str, Any]:
    """A token; with ``secret``, as just created (the only time its secret is shown)."""
    from tickwork.wire import token_created_out, token_out

    return shown(token_out(token) if secret is None else token_created_out(token, secret))


def audit_dict(entry: AuditEntry) -> dict[str, Any]:
    from tickwork.wire import audit_out

    return shown(audit_out(entry))


def run_event_dict(event: RunEvent) -> dict[str, Any]:
    from tickwork.wire import run_event_out

    return shown(run_event_out(event))


def missed_fire_dict(missed: MissedFire) -> dict[str, Any]:
    from tickwork.wire import missed_fire_out

    return shown(missed_fire_out(missed))


def prune_dict(report: PruneReport) -> dict[str, Any]:
    from tickwork.wire import prune_out

    return shown(prune_out(report))


def _iso_times(value: Any) -> Any:
    if isinstance(value, datetime):
        return iso(value)
    if isinstance(value, dict):
        return {k: _iso_times(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_iso_times(v) for v in value]
    return value


def stats_dict(report: StatsReport, by: str | None) -> dict[str, Any]:
    """Run statistics as the REST API shows them (``wire.StatsOut``), times in ISO 8601."""
    from tickwork.wire import stats_out

    return shown(stats_out(report, by))


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")


def counted(n: int, noun: str) -> str:
    """``1 day``, ``7 days``: English plurals of the nouns the CLI counts (regular ones)."""
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def short_time(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S") if value else "-"


def short_until(until: datetime | None) -> str | None:
    return None if until is None else f"until {short_time(until)}"


def metrics_text(metrics: dict[str, Any] | None) -> str:
    """What a run reported, as ``processed=10 failed=1 batch=a`` (in the order reported)."""
    return " ".join(f"{k}={v}" for k, v in (metrics or {}).items())


def cpu_text(run: Run) -> str:
    """A run's CPU time and percent, marked when it is not the job's own figure: ``0.42s
    (38%)``, ``thread 0.10s (95%)``, ``worker share 0.01s (3%)``."""
    if run.cpu_seconds is None or run.resource_scope is None:
        return "-"
    text = f"{run.cpu_seconds:.2f}s"
    if run.cpu_percent is not None:
        text += f" ({run.cpu_percent:.0f}%)"
    scope = run.resource_scope.value
    if scope == "worker":
        return f"worker share {text}"
    return text if scope == "process" else f"{scope} {text}"


def by_text(triggered_by: str, requested_by: str | None) -> str:
    """What started a job or run, and who asked for it: ``manual (alice)``."""
    return triggered_by if requested_by is None else f"{triggered_by} ({requested_by})"


# --- tables ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Column:
    """A table column. ``drop``: in a terminal too narrow for the table, columns with higher
    values are left out first (0: always shown). ``flex``: free text, cut with an ellipsis to
    fit before any column is left out. Other cells are never cut or wrapped."""

    header: str
    drop: int = 0
    flex: bool = False


def fit(columns: Sequence[Column], rows: Sequence[Sequence[str]], width: int) -> list[int | None]:
    """The width of each column in a table at most ``width`` characters wide (None: left out).

    Free-text columns shrink (down to ``FLEX_MIN_WIDTH``) before columns are left out, in
    ``drop`` order, the rightmost first among equals. A table whose kept columns alone are
    wider than ``width`` comes out wider: names are never cut.
    """
    from rich.cells import cell_len  # terminal cells: wide characters take two

    natural = [
        max([cell_len(c.header), *(cell_len(row[i]) for row in rows)])
        for i, c in enumerate(columns)
    ]
    least = [
        min(natural[i], max(FLEX_MIN_WIDTH, cell_len(c.header))) if c.flex else natural[i]
        for i, c in enumerate(columns)
    ]
    shown = list(range(len(columns)))

    def total(widths: Sequence[int]) -> int:
        return sum(widths[i] + _CELL_OVERHEAD for i in shown) + _EDGE_OVERHEAD

    while total(least) > width:
        droppable = [i for i in shown if columns[i].drop > 0]
        if not droppable:
            break
        shown.remove(max(droppable, key=lambda i: (columns[i].drop, i)))
    widths = list(natural)
    excess = total(widths) - width
    while excess > 0:
        # Take one character at a time from the widest free-text column that can still give.
        givers = [i for i in shown if widths[i] > least[i]]
        if not givers:
            break
        widest = max(givers, key=lambda i: widths[i])
        widths[widest] -= 1
        excess -= 1
    return [widths[i] if i in shown else None for i in range(len(columns))]


def print_table(
    columns: Sequence[Column], rows: Iterable[Sequence[str]], *, wide: bool = False
) -> None:
    """Print a table that fits the terminal (see ``fit``), or with every column in full."""
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    # A row is one line: line breaks and tabs in free text (error messages) become spaces.
    cells = [[cell.translate(_ONE_LINE) for cell in row] for row in rows]
    terminal = Console().width
    widths = fit(columns, cells, sys.maxsize if wide else terminal)
    table = Table()
    kept = [i for i, w in enumerate(widths) if w is not None]
    for i in kept:
        # Fixed widths keep rich from re-balancing columns; text is never read as markup.
        table.add_column(columns[i].header, width=widths[i], no_wrap=True, overflow="ellipsis")
    for row in cells:
        table.add_row(*(Text(row[i]) for i in kept))
    needed = sum((widths[i] or 0) + _CELL_OVERHEAD for i in kept) + _EDGE_OVERHEAD
    Console(width=max(terminal, needed)).print(table)


def tasks_table(tasks: list[Task], *, wide: bool = False) -> None:
    columns = [
        Column("name"),
        Column("schedule", drop=1),
        Column("next fire (UTC)", drop=2),
        Column("enabled", drop=2),
        Column("paused", drop=2),
        Column("kind", drop=4),
        Column("description", drop=3, flex=True),
    ]
    rows = []
    for t in tasks:
        d = t.definition
        enabled = "removed" if t.removed else ("yes" if d.enabled else "no")
        schedule = f"{d.schedule} ({d.timezone})" if d.schedule else "-"
        paused = "-" if t.pause is None else (short_until(t.pause.until) or "yes")
        rows.append(
            [
                d.name,
                schedule,
                short_time(t.next_fire_at),
                enabled,
                paused,
                d.kind.value,
                d.description,
            ]
        )
    print_table(columns, rows, wide=wide)


def runs_table(runs: list[Run], *, wide: bool = False) -> None:
    columns = [
        Column("run"),
        Column("status"),
        Column("started (UTC)", drop=1),
        Column("reported", drop=2, flex=True),
        Column("error", drop=2, flex=True),
        Column("duration", drop=3),
        Column("cpu", drop=4),
        Column("peak mem", drop=4),
        Column("attempt", drop=5),
        Column("job", drop=6),
        Column("by", drop=7),
    ]
    rows = []
    for r in runs:
        error = f"{r.error_type}: {r.error_message}" if r.error_type else ""
        rows.append(
            [
                str(r.id),
                r.status.value,
                short_time(r.started_at),
                metrics_text(r.metrics),
                error,
                f"{r.duration_seconds:.3f}s",
                cpu_text(r),
                "-" if r.peak_memory_mb is None else f"{r.peak_memory_mb:.0f} MB",
                str(r.attempt),
                str(r.job_id),
                by_text(r.triggered_by.value, r.requested_by),
            ]
        )
    print_table(columns, rows, wide=wide)


def jobs_table(jobs: list[Job], *, wide: bool = False) -> None:
    columns = [
        Column("id"),
        Column("task"),
        Column("state"),
        Column("scheduled (UTC)", drop=1),
        Column("last error", drop=2, flex=True),
        Column("attempt", drop=3),
        Column("by", drop=4),
    ]
    rows = [
        [
            str(j.id),
            j.task_name,
            j.state.value,
            short_time(j.scheduled_at),
            j.last_error or "",
            f"{j.attempt}/{j.max_attempts}",
            by_text(j.triggered_by.value, j.requested_by),
        ]
        for j in jobs
    ]
    print_table(columns, rows, wide=wide)


def processors_table(processors: list[ProcessorStatus], *, wide: bool = False) -> None:
    columns = [
        Column("processor"),
        Column("state"),
        Column("role", drop=1),
        Column("running jobs", drop=1),
        Column("heartbeat (UTC)", drop=2),
        Column("started (UTC)", drop=3),
        Column("version", drop=4),
    ]
    rows = []
    for status in processors:
        p = status.info
        state = status.state
        if p.stopped_at is not None:
            state = f"stopped {short_time(p.stopped_at)}"
        rows.append(
            [
                p.id,
                state,
                p.role,
                str(status.running_jobs),
                short_time(p.heartbeat_at),
                short_time(p.started_at),
                p.version,
            ]
        )
    print_table(columns, rows, wide=wide)


def _figure(value: float | None) -> str:
    if value is None:
        return "?"
    return str(int(value)) if value.is_integer() else f"{value:g}"


def run_events_table(events: list[RunEvent], *, wide: bool = False) -> None:
    columns = [
        Column("id"),
        Column("at (UTC)"),
        Column("kind"),
        Column("what", flex=True),
        Column("attempt", drop=1),
    ]
    rows = []
    for e in events:
        if e.kind.value == "progress":
            what = _figure(e.done) + ("" if e.total is None else f"/{_figure(e.total)}")
        else:
            what = " ".join([e.message or "", metrics_text(e.data)]).strip()
        rows.append([str(e.id), short_time(e.at), e.kind.value, what, str(e.attempt)])
    print_table(columns, rows, wide=wide)


def missed_counts_table(counts: list[MissedCountOut], *, wide: bool = False) -> None:
    columns = [
        Column("job"),
        Column("missed"),
        Column("by reason", flex=True),
        Column("last fire (UTC)", drop=1),
    ]
    rows = [
        [
            c.task,
            str(c.total),
            " ".join(f"{reason}={n}" for reason, n in sorted(c.by_reason.items())),
            short_time(c.last_fire_at),
        ]
        for c in counts
    ]
    print_table(columns, rows, wide=wide)


def missed_fires_table(fires: list[MissedFire], *, wide: bool = False) -> None:
    columns = [
        Column("fire (UTC)"),
        Column("job"),
        Column("reason"),
        Column("detail", drop=2, flex=True),
        Column("skipped job", drop=1),
    ]
    rows = [
        [
            short_time(m.fire_at),
            m.task_name,
            m.reason.value,
            m.detail or "",
            "" if m.job_id is None else str(m.job_id),
        ]
        for m in fires
    ]
    print_table(columns, rows, wide=wide)

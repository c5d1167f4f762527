"""The text of ``tickwork stats``: per-task figures, then the view ``--by`` asks for (days,
hours, keys or errors), as tables fitted to the terminal (``render.print_table``)."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

from tickwork.cli.render import Column, print_table, short_time

if TYPE_CHECKING:
    from tickwork.service.stats import StatsReport


def _seconds(value: float | None) -> str:
    if value is None:
        return "-"
    from tickwork.domain.durations import format_duration

    return format_duration(value)


def _rate(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"


def stats_tables(report: StatsReport, by: str | None, *, wide: bool = False) -> None:
    """Per-task figures (with every task together last), then the view ``by`` asks for."""
    widened = (
        "" if report.first_bucket == report.start else f" (from {short_time(report.first_bucket)})"
    )
    period = {60: "minute", 3600: "hour"}.get(report.period_seconds, "day")
    keyed = f", key {report.key!r} (counts only)" if report.key is not None else ""
    sys.stdout.write(
        f"runs {short_time(report.start)} – {short_time(report.end)} UTC{widened},"
        f" {period} rollups{keyed}\n"
    )
    columns = [
        Column("job"),
        Column("runs"),
        Column("success"),
        Column("avg", drop=2),
        Column("p50", drop=1),
        Column("p95"),
        Column("p99", drop=1),
        Column("wait p95", drop=3),
        Column("slow", drop=3),
    ]
    figures = [*report.tasks, report.overall] if len(report.tasks) > 1 else report.tasks
    rows = [
        [
            "(all)" if f.task_name == "*" else f.task_name,
            str(f.runs),
            _rate(f.success_rate),
            _seconds(f.durations.avg),
            _seconds(f.durations.quantile(0.5)),
            _seconds(f.durations.quantile(0.95)),
            _seconds(f.durations.quantile(0.99)),
            _seconds(f.waits.quantile(0.95)),
            str(f.slow_runs),
        ]
        for f in figures
    ]
    print_table(columns, rows, wide=wide)
    if by in ("day", "hour"):
        points = report.daily if by == "day" else report.hourly
        fmt = "%Y-%m-%d" if by == "day" else "%Y-%m-%d %H:00"
        print_table(
            [Column(by), Column("runs"), Column("succeeded"), Column("failed"), Column("avg")],
            [
                [
                    p.start.strftime(fmt),
                    str(p.runs),
                    str(p.succeeded),
                    str(p.failed),
                    _seconds(p.avg_duration_seconds),
                ]
                for p in points
            ],
            wide=wide,
        )
        if by == "hour" and report.peak_hours:
            peaks = ", ".join(f"{h:02d}:00 ({n})" for h, n in report.peak_hours)
            sys.stdout.write(f"peak hours (UTC): {peaks}\n")
    elif by == "key":
        print_table(
            [Column("job"), Column("key", flex=True), Column("runs"), Column("success")],
            [[k.task_name, k.key, str(k.runs), _rate(k.success_rate)] for k in report.keys],
            wide=wide,
        )
    elif by == "error":
        print_table(
            [Column("error class"), Column("failures")],
            [[c, str(n)] for c, n in report.errors_by_class],
            wide=wide,
        )
        print_table(
            [
                Column("job"),
                Column("count"),
                Column("error"),
                Column("fingerprint", drop=2),
                Column("frame", drop=1),
                Column("message", flex=True),
            ],
            [
                [
                    g.task_name,
                    str(g.count),
                    g.error_type or "-",
                    g.fingerprint[:12],
                    g.frame or "-",
                    g.message or "",
                ]
                for g in report.errors
            ],
            wide=wide,
        )

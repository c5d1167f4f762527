"""``tickwork explain JOB`` (why a job did or did not run around a time) and ``tickwork load``
(the coming days' starts and concurrency across schedules); the JSON is the API's
(``wire_explain.py``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from tickwork.cli import render
from tickwork.cli.commands import ConfigOpt, DbOpt, JsonOpt, app
from tickwork.cli.running import guard, with_service

if TYPE_CHECKING:
    from tickwork.domain.explain import Explanation
    from tickwork.service.load import LoadPreview


@app.command("explain")
def explain(
    job: Annotated[str, typer.Argument(help="Name of a defined job.")],
    at: Annotated[
        str | None, typer.Option("--at", help="ISO time, or 3h for 3 hours ago (default: now).")
    ] = None,
    window: Annotated[
        str | None, typer.Option("--window", help="Fires this long before and after (1h).")
    ] = None,
    config: ConfigOpt = None,
    database_url: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Why a job did or did not run around a time: each fire and what was recorded for it."""
    from datetime import UTC, datetime

    from tickwork.domain.durations import parse_duration
    from tickwork.service.stats import parse_moment

    now = datetime.now(UTC)
    when = guard(lambda: parse_moment(at, now, "at")) if at else None
    seconds = guard(lambda: parse_duration(window, field="window")) if window else None
    found = with_service(config, database_url, lambda s: s.explain_job(job, when, seconds))
    if as_json:
        from tickwork.wire_explain import explanation_out

        render.print_json(render.shown(explanation_out(found)))
        return
    for line in explanation_lines(found):
        typer.echo(line)


def explanation_lines(e: Explanation) -> list[str]:
    """The answer as text: the window, the state, each fire, the changes."""
    schedule = f"{e.schedule} ({e.timezone})" if e.schedule else "no schedule"
    lines = [
        f"{e.task_name}: {schedule}",
        f"fires from {render.short_time(e.start)} to {render.short_time(e.end)} UTC",
    ]
    lines += [f"  {s}" for s in e.state]
    lines += [f"  note: {n}" for n in e.notes]
    if not e.fires:
        lines.append("  no fire in this window")
    for f in e.fires:
        local = f.fire_at.strftime("%Y-%m-%d %H:%M:%S %Z")
        earlier = "" if f.scheduled else " (an earlier schedule)"
        lines.append(f"  {local}{earlier}: {f.summary}")
    if e.changes:
        lines.append("changes in the window:")
        lines += [f"  {render.short_time(c.at)} {c.summary}" for c in e.changes]
    return lines


@app.command("load")
def load(
    days: Annotated[int, typer.Option("--days", min=1, max=31, help="How many days.")] = 7,
    config: ConfigOpt = None,
    database_url: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """The coming days' starts and concurrency per minute across every enabled schedule (each
    run lasting its job's p95), peaks, long runs, and spread offsets for pile-ups."""
    preview = with_service(config, database_url, lambda s: s.load_preview(days))
    if as_json:
        from tickwork.wire_explain import load_out

        out = load_out(preview.report, preview.skipped, preview.seconds_taken)
        render.print_json(render.shown(out))
        return
    for line in load_lines(preview):
        typer.echo(line)


def load_lines(preview: LoadPreview) -> list[str]:
    r = preview.report
    p = r.profile
    lines = [
        f"{render.counted(r.schedules, 'schedule')} over {render.counted(r.days, 'day')}"
        f" from {render.short_time(r.start)} UTC:"
        f" {p.total_starts} starts, peak {p.peak_starts} starts a minute,"
        f" peak concurrency {p.peak_concurrency}",
        "peak minutes (UTC):",
    ]
    lines += [
        f"  {render.short_time(m.at)}  {m.starts} starts, {m.concurrency} in progress"
        for m in r.peaks
    ]
    if r.long_runs:
        lines.append("p95 longer than the interval:")
        lines += [
            f"  {x.name}: p95 {x.p95_seconds:g}s, interval {x.interval_seconds:g}s"
            for x in r.long_runs
        ]
    if r.pile_ups:
        lines.append("starting on the same second:")
        lines += [f"  {render.short_time(u.at)}: {', '.join(u.names)}" for u in r.pile_ups]
    if r.proposals and r.spread_profile is not None:
        lines.append("proposed offsets (spread by name):")
        lines += [f"  {x.name}: +{x.offset_seconds}s" for x in r.proposals]
        lines.append(
            f"  with them: peak {r.spread_profile.peak_starts} starts a minute,"
            f" peak concurrency {r.spread_profile.peak_concurrency}"
        )
    if r.no_duration:
        lines.append(f"no runs yet (counted at their start only): {', '.join(r.no_duration)}")
    lines += [f"left out: {s}" for s in preview.skipped]
    lines.append(f"counted in {preview.seconds_taken:.2f} s")
    return lines

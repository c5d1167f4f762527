"""Operating a store: ``tickwork status``, ``tickwork stats``, ``tickwork reset-stuck``,
``tickwork prune`` and ``tickwork db``."""

from __future__ import annotations

from typing import Annotated

import typer

from tickwork.cli import render
from tickwork.cli.commands import ConfigOpt, DbOpt, JsonOpt, WideOpt, app, db_app
from tickwork.cli.running import config_of, guard, with_service
from tickwork.cli.stats_tables import stats_tables


@app.command()
def status(
    config: ConfigOpt = None,
    database_url: DbOpt = None,
    as_json: JsonOpt = False,
    wide: WideOpt = False,
) -> None:
    """Job counts by state, and the processors with their roles and running jobs.

    Each processor shows its role, start time, last heartbeat, version, the jobs it is running
    now, and its state: running, lost (no heartbeat for 3 intervals) or stopped.
    """
    st = with_service(config, database_url, lambda s: s.status())
    counts = {k.value: v for k, v in st.jobs_by_state.items()}
    if as_json:
        render.print_json(
            {"jobs": counts, "processors": [render.processor_dict(p) for p in st.processors]}
        )
        return
    typer.echo("jobs: " + ", ".join(f"{k} {v}" for k, v in counts.items()))
    if st.processors:
        render.processors_table(st.processors, wide=wide)


@app.command()
def stats(
    since: Annotated[
        str,
        typer.Option(
            "--since", help="Start: a duration back from now (7d, 12h), an ISO time or a date."
        ),
    ] = "7d",
    until: Annotated[
        str | None, typer.Option("--until", help="End: an ISO time or a date (default now).")
    ] = None,
    task: Annotated[str | None, typer.Option("--task", help="Only this job.")] = None,
    tag: Annotated[str | None, typer.Option("--tag", help="Only the jobs with this tag.")] = None,
    key: Annotated[
        str | None, typer.Option("--key", help="Only this concurrency key (counts only).")
    ] = None,
    by: Annotated[
        str | None, typer.Option("--by", help="Also show: day, hour, key or error.")
    ] = None,
    config: ConfigOpt = None,
    database_url: DbOpt = None,
    as_json: JsonOpt = False,
    wide: WideOpt = False,
) -> None:
    """Run statistics per job: runs, success rate, durations (avg, p50/p95/p99), queue wait,
    slow runs; with --by, daily or hourly trends, per-key success or errors by fingerprint.

    Read from the rollups kept as runs finish (minute rollups for ranges under 6 hours, hour
    rollups under 3 days, day rollups otherwise, the range widened to whole periods);
    durations are within one histogram bucket (a factor of 1.41) of the exact figures.
    """
    from tickwork.domain.stats import TASKS
    from tickwork.service.stats import check_by, parts_for

    view = guard(lambda: check_by(by))
    # A table without --by shows the per-job figures only; JSON has what the API gives.
    parts = parts_for(view) if as_json or view else frozenset({TASKS})
    report = with_service(
        config,
        database_url,
        lambda s: s.stats(since=since, until=until, task=task, tag=tag, key=key, parts=parts),
    )
    if as_json:
        render.print_json(render.stats_dict(report, view))
        return
    stats_tables(report, view, wide=wide)


@app.command("reset-stuck")
def reset_stuck(
    older_than: Annotated[
        str,
        typer.Option("--older-than", help="Reset jobs running longer than this, e.g. 5m, 1h30m."),
    ],
    config: ConfigOpt = None,
    database_url: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Put jobs running longer than --older-than back in the queue.

    For workers that hang without dying: each job gets an interrupted run and goes back to the
    queue, or fails when no attempts are left. A worker still running such a job is not
    stopped; its late result is recorded but changes nothing.
    """
    from tickwork.domain.durations import format_duration, parse_duration

    seconds = guard(lambda: parse_duration(older_than, field="older-than"))
    jobs = with_service(config, database_url, lambda s: s.reset_stuck(seconds))
    if as_json:
        render.print_json([render.job_dict(j) for j in jobs])
        return
    typer.echo(f"reset {len(jobs)} job(s) running longer than {format_duration(seconds)}")
    for j in jobs:
        attempts = f"attempt {j.attempt}/{j.max_attempts}"
        typer.echo(f"job {j.id} ({j.task_name}, {attempts}): {j.state.value}")


@app.command()
def prune(
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Count what would be removed; remove nothing.")
    ] = False,
    config: ConfigOpt = None,
    database_url: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Remove what the [retention] policy lets go, now.

    Old runs (each task keeps its newest keep_last_runs), finished jobs with none of their runs
    kept, run events, audit entries, missed fires and rollups, in batches of at most 1000 rows
    with a pause between them; never a pending or running job. Worker processes do the same
    every [retention] interval. On PostgreSQL, when another process is pruning, this one skips.
    """
    report = with_service(config, database_url, lambda s: s.prune(dry_run=dry_run))
    if as_json:
        render.print_json(render.prune_dict(report))
        return
    if report.skipped:
        typer.echo("skipped: another process is pruning; try again later")
        return
    verb = "would remove" if dry_run else "removed"
    typer.echo(f"{verb} {report.total} row(s)" + ("" if dry_run else f" in {report.seconds:.1f}s"))
    for kind, count in report.counts.items():
        typer.echo(f"  {kind}: {count}")


@db_app.command("upgrade")
def db_upgrade(config: ConfigOpt = None, database_url: DbOpt = None) -> None:
    """Create or migrate the schema to the newest version."""
    from tickwork.launcher import upgrade_schema

    revision = guard(lambda: upgrade_schema(config_of(config, database_url).settings))
    typer.echo(f"schema at revision {revision}")


@db_app.command("current")
def db_current(config: ConfigOpt = None, database_url: DbOpt = None) -> None:
    """Print the schema revision of the database and the newest one (creates nothing)."""
    from tickwork.launcher import schema_revisions

    current, newest = guard(lambda: schema_revisions(config_of(config, database_url).settings))
    typer.echo(f"current: {current or 'none'}; newest: {newest}")

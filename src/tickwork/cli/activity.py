"""What runs told and what did not run: ``tickwork jobs events`` and ``tickwork missed``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from tickwork.cli import render
from tickwork.cli.commands import ConfigOpt, DbOpt, JsonOpt, WideOpt, app, jobs_app
from tickwork.cli.running import with_service

if TYPE_CHECKING:
    from tickwork.service.facade import Service


@jobs_app.command("events")
def jobs_events(
    job_id: int,
    attempt: Annotated[int | None, typer.Option("--attempt", help="One attempt only.")] = None,
    after: Annotated[
        int | None, typer.Option("--after", help="Only events after this event ID.")
    ] = None,
    limit: Annotated[int, typer.Option("--limit")] = 100,
    config: ConfigOpt = None,
    database_url: DbOpt = None,
    as_json: JsonOpt = False,
    wide: WideOpt = False,
) -> None:
    """A job's progress and events (tickwork.progress, tickwork.event, ::tickwork lines of a
    shell job), oldest first."""
    events = with_service(
        config,
        database_url,
        lambda s: s.run_events(job_id, attempt=attempt, after_id=after, limit=limit),
    )
    if as_json:
        render.print_json([render.run_event_dict(e) for e in events])
    else:
        render.run_events_table(events, wide=wide)


@app.command("missed")
def missed(
    task: Annotated[str | None, typer.Option("--task", help="One job (task) only.")] = None,
    since: Annotated[
        str,
        typer.Option(
            "--since", help="Recorded since: a duration back ('7d', '12h') or an ISO time."
        ),
    ] = "7d",
    reason: Annotated[
        list[str] | None,
        typer.Option(
            "--reason",
            help="overlap, misfire, no_scheduler, calendar, disabled, paused or dependency"
            " (repeatable).",
        ),
    ] = None,
    limit: Annotated[int, typer.Option("--limit", help="Missed fires listed.")] = 20,
    config: ConfigOpt = None,
    database_url: DbOpt = None,
    as_json: JsonOpt = False,
    wide: WideOpt = False,
) -> None:
    """Schedule fires that did not become runs, with their reasons: counts per job, then the
    latest ones."""

    async def use(s: Service) -> tuple[Any, Any]:
        from tickwork.service.activity import since_of
        from tickwork.service.queries import MissedFireQuery, parse_reasons

        query = MissedFireQuery(
            task_name=task,
            since=since_of(since, s.clock.now(), field="--since"),
            reasons=parse_reasons(reason or [], field="--reason"),
            limit=limit,
        )
        return await s.missed_counts(query), await s.missed_fires(query)

    counts, fires = with_service(config, database_url, use)
    from tickwork.wire import missed_counts_out

    per_task = missed_counts_out(counts)
    if as_json:
        render.print_json(
            {
                "counts": [render.shown(c) for c in per_task],
                "missed": [render.missed_fire_dict(m) for m in fires],
            }
        )
        return
    if not per_task:
        typer.echo(f"no missed fires since {since}")
        return
    render.missed_counts_table(per_task, wide=wide)
    render.missed_fires_table(fires, wide=wide)

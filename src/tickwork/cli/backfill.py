"""Backfills: ``tickwork backfill JOB --from … --to …`` runs a schedule for a past range,
``tickwork backfill list [JOB]`` shows backfills and their progress, ``tickwork backfill cancel
ID`` cancels one as a whole (``service/backfills.py``; the JSON is the API's)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer
from typer.core import TyperGroup

from tickwork.cli import render
from tickwork.cli.commands import ConfigOpt, DbOpt, JsonOpt, WideOpt, app, command_group
from tickwork.cli.running import guard, with_service
from tickwork.cli.values import parse_time

if TYPE_CHECKING:
    from tickwork.wire_backfills import BackfillOut

RUN = "run"


class BackfillGroup(TyperGroup):
    """``backfill JOB …`` is ``backfill run JOB …``: a first word that names no subcommand is
    a job (a job named ``list`` or ``cancel`` is reached through ``backfill run``)."""

    # The Click types Typer bundles are private to it: taken as they come.
    def resolve_command(self, ctx: Any, args: list[str]) -> Any:
        if args and args[0] not in self.commands and not args[0].startswith("-"):
            args = [RUN, *args]
        return super().resolve_command(ctx, args)


backfill_app = command_group(
    "Run a job's schedule for a past range: one job per fire, carrying its fire time.",
    cls=BackfillGroup,
)
app.add_typer(backfill_app, name="backfill")


@backfill_app.command(RUN)
def run(
    job: Annotated[str, typer.Argument(help="The job whose schedule to run.")],
    from_: Annotated[
        str, typer.Option("--from", help="Start of the range (ISO time with offset), included.")
    ],
    to: Annotated[
        str, typer.Option("--to", help="End of the range (ISO time with offset), included.")
    ],
    overlap: Annotated[
        str,
        typer.Option(
            "--overlap",
            help="queue: one at a time in fire order (default); allow: all due at once."
            " skip does not apply to a backfill.",
        ),
    ] = "queue",
    max_fires: Annotated[
        int | None,
        typer.Option("--max", help="The most fires to create (default 1,000; at most 10,000)."),
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Say which fires it would create; create nothing.")
    ] = False,
    config: ConfigOpt = None,
    database_url: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Create one job per fire of JOB's schedule in [--from, --to] (its own fire times, in its
    timezone), triggered by `backfill`. Fires that already have a job (a scheduled run, an
    earlier backfill) are not repeated, so running it twice creates nothing new. A range with
    more fires than --max is refused with its count."""
    from tickwork.wire_backfills import backfill_result_out, result_text

    start = guard(lambda: parse_time(from_, "from"))
    end = guard(lambda: parse_time(to, "to"))
    result = with_service(
        config,
        database_url,
        lambda s: s.backfill(
            job, start, end, overlap=overlap, max_fires=max_fires, dry_run=dry_run
        ),
        register=True,
    )
    if as_json:
        render.print_json(render.shown(backfill_result_out(result)))
        return
    typer.echo(result_text(result))
    if dry_run:
        for f in result.fires:
            typer.echo(f"  {f.isoformat()}")


@backfill_app.command("list")
def list_(
    job: Annotated[str | None, typer.Argument(help="Only this job's backfills.")] = None,
    limit: Annotated[int, typer.Option("--limit", help="The newest N.")] = 50,
    config: ConfigOpt = None,
    database_url: DbOpt = None,
    as_json: JsonOpt = False,
    wide: WideOpt = False,
) -> None:
    """Backfills, newest first, with their jobs' progress (done, failed, pending)."""
    from tickwork.wire_backfills import backfill_out

    found = with_service(config, database_url, lambda s: s.list_backfills(job, limit))
    shapes = [backfill_out(b) for b in found]
    if as_json:
        render.print_json([render.shown(b) for b in shapes])
    elif not shapes:
        typer.echo("no backfills")
    else:
        _table(shapes, wide=wide)


@backfill_app.command("cancel")
def cancel(
    backfill_id: Annotated[int, typer.Argument(metavar="ID", help="The backfill's ID.")],
    config: ConfigOpt = None,
    database_url: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Cancel a backfill as a whole: its pending jobs are cancelled, running ones finish."""
    from tickwork.wire_backfills import BackfillCancelOut, backfill_out

    backfill, cancelled = with_service(
        config, database_url, lambda s: s.cancel_backfill(backfill_id)
    )
    if as_json:
        out = BackfillCancelOut(backfill=backfill_out(backfill), cancelled_jobs=cancelled)
        render.print_json(render.shown(out))
    else:
        typer.echo(f"backfill {backfill_id} cancelled: {cancelled} pending job(s) cancelled")


def _table(shapes: list[BackfillOut], *, wide: bool) -> None:
    Column = render.Column
    columns = [
        Column("id"),
        Column("job"),
        Column("range (UTC)", flex=True),
        Column("state"),
        Column("done"),
        Column("failed"),
        Column("pending"),
        Column("created"),
        Column("present", drop=2),
        Column("overlap", drop=3),
        Column("by", drop=1, flex=True),
    ]
    rows: list[list[Any]] = [
        [
            str(b.id),
            b.task,
            f"{render.short_time(b.range_from)} – {render.short_time(b.range_to)}",
            b.state,
            str(b.succeeded + b.failed + b.cancelled),
            str(b.failed),
            str(b.pending + b.running),
            str(b.created),
            str(b.present),
            b.overlap,
            b.requested_by or "-",
        ]
        for b in shapes
    ]
    render.print_table(columns, rows, wide=wide)

"""Failed jobs grouped by error: ``tickwork failures``, ``tickwork failures retry`` and
``tickwork failures discard`` (``service/failures.py``; the JSON is ``GET /api/failures``'s)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from tickwork.cli import render
from tickwork.cli.commands import ConfigOpt, DbOpt, JsonOpt, WideOpt, app, command_group
from tickwork.cli.running import with_service

if TYPE_CHECKING:
    from tickwork.wire_failures import FailuresOut

failures_app = command_group(
    "Failed jobs grouped by error; retry or discard a whole group.",
    invoke_without_command=True,
    no_args_is_help=False,
)
app.add_typer(failures_app, name="failures")

SinceOpt = Annotated[
    str,
    typer.Option(
        "--since",
        help="Failed jobs that finished since: a duration back ('7d', '12h') or an ISO time.",
    ),
]
FingerprintArg = Annotated[
    str, typer.Argument(help="The group's fingerprint, or its first 8 or more hex digits.")
]


@failures_app.callback()
def failures(
    ctx: typer.Context,
    since: SinceOpt = "7d",
    task: Annotated[str | None, typer.Option("--task", help="Only this job.")] = None,
    config: ConfigOpt = None,
    database_url: DbOpt = None,
    as_json: JsonOpt = False,
    wide: WideOpt = False,
) -> None:
    """Jobs that ended failed or timed out, grouped by the fingerprint of their last run's
    error (its type, message with numbers and IDs normalised, top stack frame), the group with
    the newest failure first. Discarded or retried groups stay out until the error recurs."""
    if ctx.invoked_subcommand is not None:
        return
    from tickwork.wire_failures import failures_out

    report = failures_out(
        with_service(config, database_url, lambda s: s.failures(since=since, task=task))
    )
    if as_json:
        render.print_json(render.shown(report))
        return
    if not report.groups:
        typer.echo(f"no failures since {since}")
    else:
        _table(report, wide=wide)
    if report.capped:
        typer.echo(
            f"only the newest {report.limit} failed jobs were read; narrow --since or --task"
        )


@failures_app.command("retry")
def retry(
    fingerprint: FingerprintArg,
    since: SinceOpt = "7d",
    config: ConfigOpt = None,
    database_url: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Run every failed job of the group again, each as a new job; the group leaves the list."""
    count = with_service(config, database_url, lambda s: s.retry_failures(fingerprint, since=since))
    _done(fingerprint, "retry", count, as_json, f"queued {count} job(s) again")


@failures_app.command("discard")
def discard(
    fingerprint: FingerprintArg,
    since: SinceOpt = "7d",
    config: ConfigOpt = None,
    database_url: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Acknowledge the group: its failures leave the list; their jobs and runs stay."""
    count = with_service(
        config, database_url, lambda s: s.discard_failures(fingerprint, since=since)
    )
    _done(fingerprint, "discard", count, as_json, f"discarded {count} failed job(s)")


def _done(fingerprint: str, action: str, count: int, as_json: bool, text: str) -> None:
    if as_json:
        from tickwork.wire_failures import FailureActionOut

        render.print_json(
            render.shown(FailureActionOut(fingerprint=fingerprint, action=action, jobs=count))
        )
    else:
        typer.echo(text)


def _table(report: FailuresOut, *, wide: bool) -> None:
    Column = render.Column
    columns = [
        Column("fingerprint"),
        Column("error"),
        Column("jobs"),
        Column("jobs affected", drop=2, flex=True),
        Column("first seen (UTC)", drop=3),
        Column("last seen (UTC)", drop=1),
        Column("message", flex=True),
        Column("frame", drop=4, flex=True),
    ]
    rows = [
        [
            g.fingerprint[:12],
            g.error_type or "-",
            str(g.count),
            " ".join(f"{task}={n}" for task, n in g.tasks.items()),
            render.short_time(g.first_seen),
            render.short_time(g.last_seen),
            g.message,
            g.frame or "",
        ]
        for g in report.groups
    ]
    render.print_table(columns, rows, wide=wide)

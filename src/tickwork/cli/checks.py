"""Heartbeat checks: ``tickwork checks create | list | show | pause | resume | ping | delete``
(``service/checks.py``; the JSON is ``/api/checks``'s)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from tickwork.cli import render
from tickwork.cli.commands import ConfigOpt, DbOpt, JsonOpt, WideOpt, app, command_group
from tickwork.cli.running import with_service

if TYPE_CHECKING:
    from tickwork.service.checks import CheckView
    from tickwork.service.facade import Service

checks_app = command_group("Heartbeat checks: outside cron jobs ping tickwork when they run.")
app.add_typer(checks_app, name="checks")

CheckArg = Annotated[str, typer.Argument(help="The check's name or UUID.")]


def _seconds(value: float) -> str:
    from tickwork.domain.durations import format_duration

    return format_duration(value)


def _show(view: CheckView, as_json: bool, message: str) -> None:
    from tickwork.wire_checks import check_out

    if as_json:
        render.print_json(render.shown(check_out(view)))
    else:
        typer.echo(message)


@checks_app.command("create")
def create(
    name: Annotated[str, typer.Argument(help="Lower-case letters, digits, '_.-' (the slug).")],
    period: Annotated[
        str | None, typer.Option("--period", help="Pings expected every (1h, 1d); default 1d.")
    ] = None,
    cron: Annotated[
        str | None, typer.Option("--cron", help="Pings expected at (e.g. '0 3 * * *').")
    ] = None,
    timezone: Annotated[
        str | None, typer.Option("--timezone", help="Of --cron (IANA name); default UTC.")
    ] = None,
    grace: Annotated[
        str | None, typer.Option("--grace", help="How late a ping may be (15m); default 1h.")
    ] = None,
    tag: Annotated[list[str] | None, typer.Option("--tag", help="A tag (repeatable).")] = None,
    description: Annotated[str | None, typer.Option("--description")] = None,
    config: ConfigOpt = None,
    database_url: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Create a check; it prints the ping address (/ping/UUID) to call from the job."""
    data: dict[str, Any] = {"name": name}
    given = {
        "period": period,
        "cron": cron,
        "timezone": timezone,
        "grace": grace,
        "description": description,
        "tags": tag or None,
    }
    data.update({k: v for k, v in given.items() if v is not None})
    view = with_service(config, database_url, lambda s: s.checks.create(data))
    _show(
        view,
        as_json,
        f"check {view.check.name} created: ping /ping/{view.check.uuid}"
        f" ({view.check.spec.expected}, grace {_seconds(view.check.grace_seconds)})",
    )


@checks_app.command("list")
def list_checks(
    tag: Annotated[str | None, typer.Option("--tag", help="Only checks with this tag.")] = None,
    config: ConfigOpt = None,
    database_url: DbOpt = None,
    as_json: JsonOpt = False,
    wide: WideOpt = False,
) -> None:
    """Every check with its status (new, up, late, down, paused), last ping and next one."""
    from tickwork.wire_checks import check_out

    views = with_service(config, database_url, lambda s: s.checks.list_all(tag=tag))
    shown = [check_out(v) for v in views]
    if as_json:
        render.print_json([render.shown(c) for c in shown])
        return
    if not shown:
        typer.echo("no checks (tickwork checks create NAME, or [[checks]] in tickwork.toml)")
        return
    Column = render.Column
    columns = [
        Column("name"),
        Column("status"),
        Column("expected", drop=2),
        Column("last ping (UTC)"),
        Column("next (UTC)", drop=1),
        Column("uuid", drop=3),
        Column("why", flex=True, drop=4),
    ]
    rows = [
        [
            c.name,
            c.status + (" (running)" if c.running else ""),
            c.expected,
            render.short_time(c.last_ping_at)
            + (f" {c.last_ping_kind}" if c.last_ping_kind else ""),
            render.short_time(c.next_expected_at),
            c.uuid,
            c.why,
        ]
        for c in shown
    ]
    render.print_table(columns, rows, wide=wide)


@checks_app.command("show")
def show(
    check: CheckArg,
    limit: Annotated[int, typer.Option("--limit", min=1, max=100, help="Pings shown.")] = 10,
    config: ConfigOpt = None,
    database_url: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """One check and its newest pings."""
    from tickwork.wire_checks import check_out, ping_out

    view, pings = with_service(config, database_url, lambda s: s.checks.pings(check, limit=limit))
    out = check_out(view)
    if as_json:
        data = render.shown(out)
        data["recent_pings"] = [render.shown(ping_out(p)) for p in pings]
        render.print_json(data)
        return
    typer.echo(f"{out.name}: {out.status}{' (running)' if out.running else ''}  {out.why}")
    typer.echo(
        f"  ping: /ping/{out.uuid}   expected: {out.expected}, grace {_seconds(out.grace_seconds)}"
    )
    typer.echo(f"  next expected: {render.short_time(out.next_expected_at)} UTC")
    for p in pings:
        took = "" if p.duration_seconds is None else f" took {_seconds(p.duration_seconds)}"
        body = p.body.strip().splitlines()[-1][:60] if p.body.strip() else ""
        typer.echo(f"  {render.short_time(p.at)}  {p.kind.value:<7}{took}  {body}")


@checks_app.command("pause")
def pause(
    check: CheckArg, config: ConfigOpt = None, database_url: DbOpt = None, as_json: JsonOpt = False
) -> None:
    """Pause a check: no alerts until it is resumed or pinged again."""
    view = with_service(config, database_url, lambda s: s.checks.pause(check))
    _show(view, as_json, f"check {view.check.name} paused")


@checks_app.command("resume")
def resume(
    check: CheckArg, config: ConfigOpt = None, database_url: DbOpt = None, as_json: JsonOpt = False
) -> None:
    """Resume a paused check."""
    view = with_service(config, database_url, lambda s: s.checks.resume(check))
    _show(view, as_json, f"check {view.check.name} resumed: {view.state.status.value}")


@checks_app.command("ping")
def ping(
    check: CheckArg,
    action: Annotated[
        str | None,
        typer.Argument(help="start, fail, log or an exit status; none: a success."),
    ] = None,
    rid: Annotated[str | None, typer.Option("--rid", help="Pairs a start with its finish.")] = None,
    body: Annotated[str | None, typer.Option("--body", help="Text kept with the ping.")] = None,
    config: ConfigOpt = None,
    database_url: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Ping a check from here (as its job would over HTTP, /ping/UUID[/ACTION])."""
    from tickwork.service.checks import PingRequest

    request = PingRequest(action=action, rid=rid, method="CLI", body=(body or "").encode())

    async def use(s: Service) -> Any:
        found = await s.checks.get(check)
        return await s.checks.ping(request, uuid=found.check.uuid)

    result = with_service(config, database_url, use)
    _show(
        result.view,
        as_json,
        f"check {result.view.check.name}: {result.ping.kind.value} recorded,"
        f" now {result.view.state.status.value}",
    )


@checks_app.command("delete")
def delete(check: CheckArg, config: ConfigOpt = None, database_url: DbOpt = None) -> None:
    """Remove a check and its pings (checks of tickwork.toml are removed there)."""
    gone = with_service(config, database_url, lambda s: s.checks.delete(check))
    typer.echo(f"check {gone.name} removed")

"""Alerts: ``tickwork alerts list | history | ack | mute | test`` (``service/alerts.py``; the
JSON is ``/api/alerts``'s). A channel's settings (its secrets) are never printed."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from tickwork.cli import render
from tickwork.cli.commands import ConfigOpt, DbOpt, JsonOpt, WideOpt, app, command_group
from tickwork.cli.running import fail, with_service

if TYPE_CHECKING:
    from tickwork.service.facade import Service

alerts_app = command_group("Alert rules and their states; acknowledge, mute, test a channel.")
app.add_typer(alerts_app, name="alerts")

RuleArg = Annotated[str, typer.Argument(help="The rule's name in [alerts].")]
SubjectHelp = "What the rule watches: task:NAME, processor:ID, channel:NAME or queue."


@alerts_app.command("list")
def list_rules(
    rule: Annotated[str | None, typer.Argument(help="Only this rule.")] = None,
    config: ConfigOpt = None,
    database_url: DbOpt = None,
    as_json: JsonOpt = False,
    wide: WideOpt = False,
) -> None:
    """Every rule of [alerts] with the state of each subject it has watched, firing first."""
    from tickwork.wire_alerts import alert_rule_out

    views = with_service(config, database_url, lambda s: s.alerts.rules(rule))
    rules = [alert_rule_out(v) for v in views]
    if as_json:
        render.print_json([render.shown(r) for r in rules])
        return
    if not rules:
        typer.echo("no alert rules ([alerts.rules] in tickwork.toml)")
        return
    Column = render.Column
    columns = [
        Column("rule"),
        Column("kind", drop=2),
        Column("subject"),
        Column("status"),
        Column("since (UTC)", drop=1),
        Column("notes", drop=3, flex=True),
        Column("why", flex=True),
    ]
    rows: list[list[str]] = []
    for r in rules:
        muted = f"rule muted until {render.short_time(r.muted_until)}" if r.muted_until else ""
        if not r.states:
            rows.append([r.name, r.kind, "-", "ok", "-", muted, ""])
        for st in r.states:
            notes = [muted] if muted else []
            if st.acked_by:
                notes.append(f"acked by {st.acked_by}")
            if st.muted_until:
                notes.append(f"muted until {render.short_time(st.muted_until)}")
            if st.flapping:
                notes.append("flapping")
            since = render.short_time(st.since)
            rows.append([r.name, r.kind, st.subject, st.status, since, "; ".join(notes), st.why])
    render.print_table(columns, rows, wide=wide)


@alerts_app.command("history")
def history(
    rule: Annotated[str | None, typer.Option("--rule", help="Only this rule.")] = None,
    subject: Annotated[str | None, typer.Option("--subject", help=SubjectHelp)] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, max=500)] = 50,
    config: ConfigOpt = None,
    database_url: DbOpt = None,
    as_json: JsonOpt = False,
    wide: WideOpt = False,
) -> None:
    """Stored transitions, newest first: when, from, to, why, what was sent where."""
    from tickwork.wire_alerts import alert_transition_out

    found = with_service(
        config,
        database_url,
        lambda s: s.alerts.history(rule=rule, subject=subject, limit=limit),
    )
    shown = [alert_transition_out(t) for t in found]
    if as_json:
        render.print_json([render.shown(t) for t in shown])
        return
    if not shown:
        typer.echo("no alert transitions")
        return
    Column = render.Column
    columns = [
        Column("at (UTC)"),
        Column("rule"),
        Column("subject"),
        Column("change"),
        Column("sent"),
        Column("channels", drop=2),
        Column("why", flex=True),
    ]
    rows = [
        [
            render.short_time(t.at),
            t.rule,
            t.subject,
            f"{t.from_status}→{t.to_status}",
            ",".join(t.sent) or "-",
            ",".join(t.channels) or "-",
            t.why,
        ]
        for t in shown
    ]
    render.print_table(columns, rows, wide=wide)


@alerts_app.command("ack")
def ack(
    rule: RuleArg,
    subject: Annotated[str, typer.Argument(help=SubjectHelp)],
    config: ConfigOpt = None,
    database_url: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Acknowledge a firing alert: no reminders until it resolves."""
    from tickwork.wire_alerts import alert_state_out

    state = with_service(config, database_url, lambda s: s.alerts.acknowledge(rule, subject))
    if as_json:
        render.print_json(render.shown(alert_state_out(rule, subject, state)))
    else:
        typer.echo(f"{rule} on {subject}: acknowledged")


@alerts_app.command("mute")
def mute(
    rule: RuleArg,
    subject: Annotated[
        str | None, typer.Argument(help=f"{SubjectHelp} None: the whole rule.")
    ] = None,
    until: Annotated[
        str | None,
        typer.Option("--until", help="ISO time with offset, or a duration from now (30m, 2h)."),
    ] = None,
    off: Annotated[bool, typer.Option("--off", help="Unmute now.")] = False,
    config: ConfigOpt = None,
    database_url: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Mute a rule (or one subject) until a time: nothing is sent for it meanwhile, and what
    changed is told when the mute ends."""
    from tickwork.domain.durations import parse_time_or_duration
    from tickwork.wire_alerts import alert_state_out

    if (until is None) == (not off):
        fail("give --until TIME (or a duration), or --off")

    async def use(s: Service) -> Any:
        end = None if until is None else parse_time_or_duration(until, "until", s.clock.now())
        return await s.alerts.mute(rule, subject, end)

    state = with_service(config, database_url, use)
    target = subject or "the whole rule"
    if as_json:
        render.print_json(render.shown(alert_state_out(rule, subject or "*", state)))
    elif state.muted_until is None:
        typer.echo(f"{rule} on {target}: unmuted")
    else:
        typer.echo(f"{rule} on {target}: muted until {render.short_time(state.muted_until)} UTC")


@alerts_app.command("test")
def test(
    channel: Annotated[str, typer.Argument(help="The channel's name in [alerts.channels].")],
    config: ConfigOpt = None,
    database_url: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Send a test notice to a channel now and say whether it was accepted (exit status 1
    if not)."""
    from tickwork.wire_alerts import channel_test_out

    result = channel_test_out(
        with_service(config, database_url, lambda s: s.alerts.test_channel(channel))
    )
    if as_json:
        render.print_json(render.shown(result))
    elif result.delivered:
        typer.echo(f"{channel} ({result.kind}): test notice delivered")
    else:
        typer.echo(f"{channel} ({result.kind}): not delivered: {result.error}")
    if not result.delivered:
        raise typer.Exit(1)

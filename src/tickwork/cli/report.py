"""``tickwork report``: the weekly report (``service/report.py``) as text, JSON (the shape of
``GET /api/report``), the e-mail's HTML written to a file, or sent now to the ``[report]``
recipients through its e-mail channel."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from tickwork.cli import render
from tickwork.cli.commands import ConfigOpt, DbOpt, JsonOpt, app
from tickwork.cli.running import fail, with_service

if TYPE_CHECKING:
    from tickwork.domain.report import Report
    from tickwork.service.facade import Service
    from tickwork.service.report import RenderedReport


@app.command("report")
def report(
    since: Annotated[
        str | None,
        typer.Option(
            "--since",
            help="The range back from now ('7d', '12h') or an ISO time; widened to whole UTC"
            " days from 3 days on. Default: [report] since, else 7d.",
        ),
    ] = None,
    html: Annotated[
        Path | None,
        typer.Option("--html", help="Write the e-mail's HTML document to FILE.", metavar="FILE"),
    ] = None,
    send: Annotated[
        bool,
        typer.Option(
            "--send", help="Send it now to the [report] recipients through its e-mail channel."
        ),
    ] = False,
    config: ConfigOpt = None,
    database_url: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """The weekly report: per job, runs against the fires its schedule expected and missed
    fires, success rate, p50/p95 durations and their change against the span before; the top
    failure groups; the longest incidents; paused and disabled jobs; the queue's wait. Prints
    the e-mail's text part unless told otherwise; sent on its own by the [report] schedule."""
    if html is not None and send:
        fail("--html and --send: choose one (--html writes a file, --send e-mails it)")
    if send:
        made, sent = with_service(config, database_url, lambda s: s.send_report(since=since))
        if as_json:
            from tickwork.wire_report import report_out

            render.print_json(render.shown(report_out(made)))
            return
        typer.echo(
            f"sent to {len(sent.recipients)} recipient(s) through {sent.channel}: {sent.subject}"
        )
        return

    async def drawn(service: Service) -> tuple[Report, RenderedReport]:
        found = await service.report(since=since)
        return found, service.reports.render(found)

    found, rendered = with_service(config, database_url, drawn)
    if html is not None:
        try:
            html.write_text(rendered.html, encoding="utf-8")
        except OSError as exc:
            fail(f"cannot write {str(html)!r}: {exc.strerror or exc}")
        typer.echo(f"wrote {html}: {rendered.subject}")
    if as_json:
        from tickwork.wire_report import report_out

        render.print_json(render.shown(report_out(found)))
    elif html is None:
        typer.echo(rendered.text, nl=False)

"""The ``tickwork`` command tree and the options its commands share.

Every command pays for importing the CLI modules, so they import only Typer and light parts of
tickwork at module level; a command imports what it uses (the store, the service, rich) when
it runs. ``tests/integration/test_cli_imports.py`` holds the line.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

DEFAULT_CONFIG_FILE = "tickwork.toml"


def command_group(help: str, **settings: Any) -> typer.Typer:
    """A ``tickwork`` command or group of subcommands, all formatted alike.

    Help is plain text (Click's formatter), not rich markup: rendering help with rich cost
    ~0.1 s of imports (rich, markdown-it, pygments) on every `--help`, and rich read text in
    square brackets, such as ``[api] host``, as markup and dropped it.
    """
    settings.setdefault("no_args_is_help", True)
    return typer.Typer(help=help, rich_markup_mode=None, **settings)


app = command_group(
    "tickwork: cron jobs and background jobs, on SQLite or PostgreSQL.",
    pretty_exceptions_enable=False,
    add_completion=False,
)
jobs_app = command_group("See and steer defined jobs and queued job runs.")
db_app = command_group("Database schema.")


def _print_version(value: bool) -> None:
    if value:
        from tickwork.version import __version__

        typer.echo(f"tickwork {__version__}")
        raise typer.Exit()


@app.callback()
def _options(
    version: Annotated[
        bool,
        typer.Option(
            "--version",
            is_eager=True,
            callback=_print_version,
            help="Print the installed version of tickwork and exit.",
        ),
    ] = False,
) -> None:
    # Options of `tickwork` itself; no docstring, so that the help text above stays.
    pass


app.add_typer(jobs_app, name="jobs")
app.add_typer(db_app, name="db")

ConfigOpt = Annotated[
    Path | None,
    typer.Option(
        "--config",
        "-c",
        envvar="TICKWORK_CONFIG",
        help=f"tickwork.toml to use (default: ./{DEFAULT_CONFIG_FILE} if present).",
    ),
]
DbOpt = Annotated[
    str | None,
    typer.Option(
        "--database-url",
        envvar="TICKWORK_DATABASE_URL",
        help="Store URL, e.g. sqlite:///tickwork.db or postgresql://host/db.",
    ),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]
WideOpt = Annotated[
    bool,
    typer.Option("--wide", help="Show every column in full, even if wider than the terminal."),
]
AppOpt = Annotated[
    str | None,
    typer.Option("--app", help="A Tickwork application object to run, as module:attribute."),
]
ProcessorIdOpt = Annotated[
    str | None,
    typer.Option(
        "--processor-id",
        envvar="TICKWORK_PROCESSOR_ID",
        help="This process's ID in `tickwork status` and on its jobs (default: host-pid-random).",
    ),
]

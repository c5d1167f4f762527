"""What every ``tickwork`` command shares: the Typer apps, common options, loading the
configuration, running a use case against the store, and mapping errors to exit statuses.

Every command pays for importing the CLI modules, so they import only Typer and light parts of
tickwork at module level; a command imports what it uses (the store, the service, rich) when
it runs. ``tests/integration/test_cli_imports.py`` holds the line.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Coroutine
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn, TypeVar

import typer

from tickwork.errors import ConfigError, SchemaError, StoreError, TickworkError

if TYPE_CHECKING:
    from tickwork.config import Config
    from tickwork.domain.access import Principal
    from tickwork.service.facade import Service

T = TypeVar("T")

DEFAULT_CONFIG_FILE = "tickwork.toml"
EXIT_USAGE = 2  # bad input: config, arguments, unknown names
EXIT_STORE = 1


def command_group(help: str, **settings: Any) -> typer.Typer:
    """A ``tickwork`` command or group of subcommands, all formatted alike.

    Help is plain text (Click's formatter), not rich markup: rendering help with rich cost
    ~0.1 s of imports (rich, markdown-it, pygments) on every `--help`, and rich read text in
    square brackets, such as ``[api] host``, as markup and dropped it.
    """
    return typer.Typer(help=help, no_args_is_help=True, rich_markup_mode=None, **settings)


app = command_group(
    "tickwork: cron jobs and background jobs, on SQLite or PostgreSQL.",
    pretty_exceptions_enable=False,
    add_completion=False,
)
jobs_app = command_group("See and steer defined jobs and queued job runs.")
db_app = command_group("Database schema.")
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


def fail(message: str, code: int = EXIT_USAGE) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def config_of(config: Path | None, database_url: str | None) -> Config:
    from tickwork.config import load_config

    if config is None and Path(DEFAULT_CONFIG_FILE).is_file():
        config = Path(DEFAULT_CONFIG_FILE)
    return load_config(config, overrides={"database_url": database_url})


def cli_actor() -> Principal:
    """Who acts through the CLI, for the audit log: ``cli:<OS user>``, with every scope (whoever
    can run the command can read the database URL)."""
    import getpass

    from tickwork.domain.access import Principal, Role, Scope

    try:
        user = getpass.getuser()
    except (OSError, KeyError):  # no user name in the environment or the password database
        user = "unknown"
    return Principal(name=f"cli:{user}", scopes=frozenset(Scope), role=Role.ADMIN)


def guard(fn: Callable[[], T]) -> T:
    """Map tickwork's errors to one line on stderr and an exit status."""
    try:
        return fn()
    except SchemaError as exc:  # the wrong or a missing database: the operator's to fix
        fail(str(exc))
    except StoreError as exc:
        fail(str(exc), EXIT_STORE)
    except TickworkError as exc:
        fail(str(exc))


def with_service(
    config: Path | None,
    database_url: str | None,
    use_case: Callable[[Service], Coroutine[Any, Any, T]],
    *,
    register: bool = False,
) -> T:
    """Run ``use_case`` on the existing database of the configuration. Never creates or
    migrates one: only ``tickwork run|worker|scheduler|api`` and ``tickwork db upgrade`` do.
    ``register``: first create the config's job definitions that the store lacks
    (``Service.register_missing``), for the commands that name defined jobs (enqueue, trigger,
    list) before any process has started and synced."""
    import asyncio

    from tickwork.launcher import command_context
    from tickwork.service.facade import Service

    async def main() -> T:
        cfg = config_of(config, database_url)
        async with command_context(cfg.settings, cli_actor()) as ctx:
            service = Service(ctx)
            if register:
                await service.register_missing(cfg.tasks)
            return await use_case(service)

    return guard(lambda: asyncio.run(main()))


def parse_time(value: str, field: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise ConfigError(f"invalid ISO 8601 time {value!r}", field=field) from None
    if parsed.tzinfo is None:
        raise ConfigError(f"time {value!r} needs a UTC offset (e.g. +00:00 or Z)", field=field)
    return parsed


def parse_json(value: str | None, field: str, kind: type) -> Any:
    if value is None:
        return kind()
    try:
        parsed = json.loads(value)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"invalid JSON ({exc.msg} at column {exc.colno})", field=field) from None
    if not isinstance(parsed, kind):
        raise ConfigError(f"must be a JSON {'array' if kind is list else 'object'}", field=field)
    return parsed


def setup_logging(level: str) -> None:
    import logging
    import sys

    logging.basicConfig(
        level=level,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )

"""What every ``tickwork`` command shares: the Typer apps, common options, loading the
configuration, running a use case against the store, and mapping errors to exit statuses."""

from __future__ import annotations

import asyncio
import getpass
import json
import logging
import sys
from collections.abc import Callable, Coroutine
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, NoReturn, TypeVar

import typer

from tickwork.config import Config, load_config
from tickwork.domain.access import Principal, Role, Scope
from tickwork.errors import ConfigError, StoreError, TickworkError
from tickwork.service import Service

T = TypeVar("T")

DEFAULT_CONFIG_FILE = "tickwork.toml"
EXIT_USAGE = 2  # bad input: config, arguments, unknown names
EXIT_STORE = 1

app = typer.Typer(
    help="tickwork: cron jobs and background jobs, on SQLite or PostgreSQL.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
jobs_app = typer.Typer(help="See and steer defined jobs and queued job runs.", no_args_is_help=True)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
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
    if config is None and Path(DEFAULT_CONFIG_FILE).is_file():
        config = Path(DEFAULT_CONFIG_FILE)
    return load_config(config, overrides={"database_url": database_url})


def cli_actor() -> Principal:
    """Who acts through the CLI, for the audit log: ``cli:<OS user>``, with every scope (whoever
    can run the command can read the database URL)."""
    try:
        user = getpass.getuser()
    except (OSError, KeyError):  # no user name in the environment or the password database
        user = "unknown"
    return Principal(name=f"cli:{user}", scopes=frozenset(Scope), role=Role.ADMIN)


def guard(fn: Callable[[], T]) -> T:
    """Map tickwork's errors to one line on stderr and an exit status."""
    try:
        return fn()
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
    """Run ``use_case`` on the configured store. ``register``: first create the config's job
    definitions that the store lacks (``Service.register_missing``), for the commands that
    name defined jobs (enqueue, trigger, list) before any process has started and synced."""
    from tickwork.launcher import claim_rules, prepare_store

    async def main() -> T:
        cfg = config_of(config, database_url)
        store = await asyncio.to_thread(prepare_store, cfg.settings.database_url)
        try:
            service = Service(store, rules=claim_rules(cfg.settings), actor=cli_actor())
            if register:
                await service.register_missing(cfg.tasks)
            return await use_case(service)
        finally:
            await store.close()

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
    logging.basicConfig(
        level=level,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )

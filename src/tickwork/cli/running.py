"""Running a command: its configuration, who acts, the use cases on the existing database, and
tickwork's errors as one line and an exit status."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

import typer

from tickwork.cli.commands import DEFAULT_CONFIG_FILE
from tickwork.errors import SchemaError, StoreError, TickworkError

if TYPE_CHECKING:
    from tickwork.config import Config
    from tickwork.domain.access import Principal
    from tickwork.service.facade import Service

T = TypeVar("T")

EXIT_USAGE = 2  # bad input: config, arguments, unknown names
EXIT_STORE = 1


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

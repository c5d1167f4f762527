"""The long-running commands: ``tickwork run`` (scheduler, worker and REST API in one process),
and each role on its own: ``tickwork worker``, ``tickwork scheduler`` and ``tickwork api``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from tickwork.cli import collect_garbage_again
from tickwork.cli.commands import AppOpt, ConfigOpt, DbOpt, ProcessorIdOpt, app
from tickwork.cli.running import config_of, fail, guard

if TYPE_CHECKING:
    from tickwork.config.api import ApiSettings

HostOpt = Annotated[
    str | None,
    typer.Option("--host", help="API address (default: [api] host, else 127.0.0.1)."),
]
PortOpt = Annotated[
    int | None,
    typer.Option("--port", help="API port (default: [api] port, else 8080; 0: any free port)."),
]
NoApiOpt = Annotated[bool, typer.Option("--no-api", help="Run without the REST API.")]
LogFormatOpt = Annotated[
    str | None,
    typer.Option(
        "--log-format",
        help="text or json: one object per line with the job, run and request IDs as fields"
        " (default: TICKWORK_LOG_FORMAT, else [tickwork] log_format, else text).",
    ),
]
CpusOpt = Annotated[
    str | None,
    typer.Option(
        "--cpus",
        envvar="TICKWORK_CPUS",
        help="Pin this process to these CPUs (e.g. 1, 0,2 or 0-3; Linux): one CPU per worker"
        " process makes sync jobs much cheaper (docs/how-to/tune-throughput.md).",
    ),
]


def serve_roles(
    roles: frozenset[str],
    config: ConfigOpt,
    database_url: DbOpt,
    app_path: AppOpt,
    processor_id: ProcessorIdOpt,
    *,
    api: bool = False,
    host: str | None = None,
    port: int | None = None,
    log_format: str | None = None,
    cpus: str | None = None,
) -> None:
    """Validate, sync the definitions and run ``roles`` until SIGINT/SIGTERM."""
    import asyncio
    import logging

    from tickwork.affinity import parse_cpus, pin
    from tickwork.app import Tickwork
    from tickwork.callables import import_object
    from tickwork.domain.processors import validate_processor_id
    from tickwork.domain.tasks import TaskSource
    from tickwork.launcher import serve, shown_store_url
    from tickwork.logs import check_log_format
    from tickwork.service.definition_rules import validate_definitions

    if log_format is not None:
        given = log_format
        log_format = guard(lambda: check_log_format(given, field="--log-format"))
    # First of all: every thread started from here on inherits the CPUs.
    pinned = None if cpus is None else guard(lambda: pin(parse_cpus(cpus)))
    if processor_id is not None:
        guard(lambda: validate_processor_id(processor_id))
    if app_path is not None:
        if config is not None:
            fail("--app and --config cannot be combined: pass config= to Tickwork() instead")
        obj = guard(lambda: import_object(app_path, what="application", field="app"))
        if not isinstance(obj, Tickwork):
            fail(f"{app_path!r} is not a tickwork.Tickwork application")
        if database_url is not None:
            guard(lambda: obj.use_database(database_url))
        api_settings = guard(lambda: api_overrides(obj.api_settings, host, port)) if api else None
        collect_garbage_again()
        setup_logging(obj.settings.log_level, log_format or obj.settings.log_format)
        log_pinned(pinned)
        guard(lambda: obj.run(roles=roles, processor_id=processor_id, api=api_settings))
        return
    cfg = guard(lambda: config_of(config, database_url))
    api_settings = guard(lambda: api_overrides(cfg.api, host, port)) if api else None

    # Everything that can be wrong with the input is reported before anything is logged.
    def check() -> str:
        validate_definitions(cfg.tasks)
        return shown_store_url(cfg.settings.database_url)

    shown_url = guard(check)
    collect_garbage_again()
    setup_logging(cfg.settings.log_level, log_format or cfg.settings.log_format)
    sources = [TaskSource.CONFIG] if cfg.path is not None else []
    logging.getLogger("tickwork").info(
        "store %s; %d job definition(s) from %s",
        shown_url,
        len(cfg.tasks),
        cfg.path or "no config file",
    )
    log_pinned(pinned)
    guard(
        lambda: asyncio.run(
            serve(
                cfg.settings,
                cfg.tasks,
                sources,
                roles=roles,
                processor_id=processor_id,
                api=api_settings,
                calendars=cfg.calendars,
                checks=cfg.checks if cfg.path is not None else None,
            )
        )
    )


def log_pinned(cpus: frozenset[int] | None) -> None:
    import logging

    if cpus is not None:
        shown = ",".join(str(c) for c in sorted(cpus))
        logging.getLogger("tickwork").info("pinned to CPU %s", shown)


def api_overrides(settings: ApiSettings, host: str | None, port: int | None) -> ApiSettings:
    """The API settings with the command line's ``--host``/``--port`` applied (validated)."""
    changes: dict[str, object] = {}
    if host is not None:
        changes["host"] = host
    if port is not None:
        changes["port"] = port
    return settings.replace(**changes)


@app.command()
def run(
    config: ConfigOpt = None,
    database_url: DbOpt = None,
    app_path: AppOpt = None,
    processor_id: ProcessorIdOpt = None,
    host: HostOpt = None,
    port: PortOpt = None,
    no_api: NoApiOpt = False,
    log_format: LogFormatOpt = None,
    cpus: CpusOpt = None,
) -> None:
    """Run the scheduler, a worker and the REST API in this process until Ctrl-C or SIGTERM."""
    from tickwork.domain.processors import ROLE_SCHEDULER, ROLE_WORKER

    serve_roles(
        frozenset({ROLE_SCHEDULER, ROLE_WORKER}),
        config,
        database_url,
        app_path,
        processor_id,
        api=not no_api,
        host=host,
        port=port,
        log_format=log_format,
        cpus=cpus,
    )


@app.command()
def worker(
    config: ConfigOpt = None,
    database_url: DbOpt = None,
    app_path: AppOpt = None,
    processor_id: ProcessorIdOpt = None,
    log_format: LogFormatOpt = None,
    cpus: CpusOpt = None,
) -> None:
    """Run only a worker (claims and runs jobs; recovers jobs of dead workers)."""
    from tickwork.domain.processors import ROLE_WORKER

    serve_roles(
        frozenset({ROLE_WORKER}),
        config,
        database_url,
        app_path,
        processor_id,
        log_format=log_format,
        cpus=cpus,
    )


@app.command()
def scheduler(
    config: ConfigOpt = None,
    database_url: DbOpt = None,
    app_path: AppOpt = None,
    processor_id: ProcessorIdOpt = None,
    log_format: LogFormatOpt = None,
    cpus: CpusOpt = None,
) -> None:
    """Run only a scheduler (turns due schedules into jobs; any number may run)."""
    from tickwork.domain.processors import ROLE_SCHEDULER

    serve_roles(
        frozenset({ROLE_SCHEDULER}),
        config,
        database_url,
        app_path,
        processor_id,
        log_format=log_format,
        cpus=cpus,
    )


@app.command()
def api(
    config: ConfigOpt = None,
    database_url: DbOpt = None,
    app_path: AppOpt = None,
    processor_id: ProcessorIdOpt = None,
    host: HostOpt = None,
    port: PortOpt = None,
    log_format: LogFormatOpt = None,
    cpus: CpusOpt = None,
) -> None:
    """Serve only the REST API (no scheduler or worker) until Ctrl-C or SIGTERM."""
    serve_roles(
        frozenset(),
        config,
        database_url,
        app_path,
        processor_id,
        api=True,
        host=host,
        port=port,
        log_format=log_format,
        cpus=cpus,
    )


def setup_logging(level: str, log_format: str = "text") -> None:
    from tickwork.logs import configure_logging

    configure_logging(level, log_format)

"""The ``tickwork`` command line: parse, call the service, render; no rules of its own."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sys
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, NoReturn, TypeVar

import typer

from tickwork.cli import render
from tickwork.config import Config, load_config
from tickwork.domain.durations import parse_duration
from tickwork.domain.jobs import TriggeredBy
from tickwork.domain.tasks import TaskSource
from tickwork.errors import ConfigError, StoreError, TickworkError
from tickwork.service import EnqueueRequest, Service, preview, validate_definitions
from tickwork.store.engines import normalize_url

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


def fail(message: str, code: int = EXIT_USAGE) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def _config(config: Path | None, database_url: str | None) -> Config:
    if config is None and Path(DEFAULT_CONFIG_FILE).is_file():
        config = Path(DEFAULT_CONFIG_FILE)
    return load_config(config, overrides={"database_url": database_url})


def _guard(fn: Callable[[], T]) -> T:
    """Map tickwork's errors to one line on stderr and an exit status."""
    try:
        return fn()
    except StoreError as exc:
        fail(str(exc), EXIT_STORE)
    except TickworkError as exc:
        fail(str(exc))


def _with_service(
    config: Path | None,
    database_url: str | None,
    use_case: Callable[[Service], Coroutine[Any, Any, T]],
) -> T:
    from tickwork.launcher import claim_rules, prepare_store

    async def main() -> T:
        cfg = _config(config, database_url)
        store = await asyncio.to_thread(prepare_store, cfg.settings.database_url)
        try:
            return await use_case(Service(store, resolve=None, rules=claim_rules(cfg.settings)))
        finally:
            await store.close()

    return _guard(lambda: asyncio.run(main()))


def _parse_time(value: str, field: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise ConfigError(f"invalid ISO 8601 time {value!r}", field=field) from None
    if parsed.tzinfo is None:
        raise ConfigError(f"time {value!r} needs a UTC offset (e.g. +00:00 or Z)", field=field)
    return parsed


def _parse_json(value: str | None, field: str, kind: type) -> Any:
    if value is None:
        return kind()
    try:
        parsed = json.loads(value)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"invalid JSON ({exc.msg} at column {exc.colno})", field=field) from None
    if not isinstance(parsed, kind):
        raise ConfigError(f"must be a JSON {'array' if kind is list else 'object'}", field=field)
    return parsed


# --- run ---------------------------------------------------------------------------------------
@app.command()
def run(
    config: ConfigOpt = None,
    database_url: DbOpt = None,
    app_path: Annotated[
        str | None,
        typer.Option("--app", help="A Tickwork application object to run, as module:attribute."),
    ] = None,
) -> None:
    """Run the scheduler and a worker in this process until Ctrl-C or SIGTERM."""
    from tickwork.app import Tickwork
    from tickwork.launcher import serve
    from tickwork.runtime.executors.python import import_object

    if app_path is not None:
        if config is not None:
            fail("--app and --config cannot be combined: pass config= to Tickwork() instead")
        obj = _guard(lambda: import_object(app_path, what="application", field="app"))
        if not isinstance(obj, Tickwork):
            fail(f"{app_path!r} is not a tickwork.Tickwork application")
        if database_url is not None:
            obj._config = type(obj._config)(
                obj.settings.replace(database_url=database_url), obj._config.tasks, obj._config.path
            )
        _setup_logging(obj.settings.log_level)
        _guard(obj.run)
        return
    cfg = _guard(lambda: _config(config, database_url))

    # Everything that can be wrong with the input is reported before anything is logged.
    def check() -> None:
        validate_definitions(cfg.tasks)
        normalize_url(cfg.settings.database_url)

    _guard(check)
    _setup_logging(cfg.settings.log_level)
    sources = [TaskSource.CONFIG] if cfg.path is not None else []
    logging.getLogger("tickwork").info(
        "store %s; %d job definition(s) from %s",
        _safe_url(cfg.settings.database_url),
        len(cfg.tasks),
        cfg.path or "no config file",
    )
    _guard(lambda: asyncio.run(serve(cfg.settings, cfg.tasks, sources)))


def _safe_url(url: str) -> str:
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return "<invalid URL>"


def _setup_logging(level: str) -> None:
    logging.basicConfig(
        level=level,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )


# --- next --------------------------------------------------------------------------------------
@app.command("next")
def next_fires(
    expression: Annotated[
        str | None, typer.Argument(help="Cron expression, @alias or 'every 30s'.")
    ] = None,
    job: Annotated[
        str | None,
        typer.Option("--job", help="A defined job instead of EXPR: its fires, calendar applied."),
    ] = None,
    tz: Annotated[
        str | None, typer.Option("--tz", help="IANA timezone of EXPR (default: UTC).")
    ] = None,
    after: Annotated[str | None, typer.Option("--after", help="ISO time (default: now).")] = None,
    count: Annotated[int, typer.Option("-n", "--count", help="How many fire times.")] = 5,
    config: ConfigOpt = None,
    database_url: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Print the next fire times of a schedule or of a defined job, as ISO 8601 with offset.

    With --job, a fire outside the job's calendar shows when its job will run instead.
    """
    if (expression is None) == (job is None):
        fail("give a schedule EXPR or --job NAME (one of them)")
    if job is not None and tz is not None:
        fail("--tz applies to EXPR only: a job's schedule has its own timezone")
    start = _guard(lambda: _parse_time(after, "after")) if after else datetime.now(UTC)
    if job is None:
        assert expression is not None
        fires = _guard(lambda: preview(expression, tz or "UTC", start, count))
        if as_json:
            render.print_json([f.isoformat() for f in fires])
        else:
            for fire in fires:
                typer.echo(fire.isoformat())
        return
    pairs = _with_service(config, database_url, lambda s: s.preview_job(job, start, count))
    if as_json:
        render.print_json([{"fire_at": f.isoformat(), "runs_at": r.isoformat()} for f, r in pairs])
        return
    for fire, runs_at in pairs:
        if runs_at == fire:
            typer.echo(fire.isoformat())
        else:
            typer.echo(f"{fire.isoformat()} -> moved to {runs_at.isoformat()} (calendar)")


# --- enqueue -----------------------------------------------------------------------------------
@app.command()
def enqueue(
    task: Annotated[str, typer.Argument(help="Name of a defined job.")],
    args: Annotated[str | None, typer.Option("--args", help="JSON array of arguments.")] = None,
    kwargs: Annotated[
        str | None, typer.Option("--kwargs", help="JSON object of keyword arguments.")
    ] = None,
    at: Annotated[str | None, typer.Option("--at", help="Run at this ISO time.")] = None,
    delay: Annotated[str | None, typer.Option("--delay", help="Run after e.g. 30s, 5m.")] = None,
    key: Annotated[str | None, typer.Option("--key", help="Concurrency key.")] = None,
    priority: Annotated[int | None, typer.Option("--priority", help="Higher runs first.")] = None,
    unique_key: Annotated[
        str | None,
        typer.Option(
            "--unique-key", help="While a job of this key is queued or running, print its ID."
        ),
    ] = None,
    unique_for: Annotated[
        str | None,
        typer.Option(
            "--unique-for", help="With --unique-key: also one that finished this recently (10m)."
        ),
    ] = None,
    deadline: Annotated[
        str | None,
        typer.Option("--deadline", help="Run --on-deadline unless done this long after due."),
    ] = None,
    deadline_at: Annotated[
        str | None,
        typer.Option("--deadline-at", help="Run --on-deadline unless done by this ISO time."),
    ] = None,
    on_deadline: Annotated[
        str | None,
        typer.Option("--on-deadline", help="Job to run if the deadline passes first."),
    ] = None,
    config: ConfigOpt = None,
    database_url: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Queue a one-off or delayed run of a job; prints the job ID."""

    def build() -> EnqueueRequest:
        if at is not None and delay is not None:
            raise ConfigError("give --at or --delay, not both", field="at")
        if deadline is not None and deadline_at is not None:
            raise ConfigError("give --deadline or --deadline-at, not both", field="deadline")
        return EnqueueRequest(
            task_name=task,
            args=_parse_json(args, "args", list),
            kwargs=_parse_json(kwargs, "kwargs", dict),
            at=_parse_time(at, "at") if at else None,
            delay_seconds=parse_duration(delay, field="delay") if delay else None,
            key=key,
            priority=priority,
            unique_key=unique_key,
            unique_for_seconds=parse_duration(unique_for, field="unique-for")
            if unique_for
            else None,
            deadline_seconds=parse_duration(deadline, field="deadline") if deadline else None,
            deadline_at=_parse_time(deadline_at, "deadline-at") if deadline_at else None,
            on_deadline=on_deadline,
        )

    req = _guard(build)
    job_id = _with_service(
        config, database_url, lambda s: s.enqueue(req, triggered_by=TriggeredBy.MANUAL)
    )
    if as_json:
        render.print_json({"id": job_id})
    else:
        typer.echo(job_id)


# --- jobs --------------------------------------------------------------------------------------
@jobs_app.command("list")
def jobs_list(
    config: ConfigOpt = None,
    database_url: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """List defined jobs with their schedule and next fire time."""
    tasks = _with_service(config, database_url, lambda s: s.list_tasks())
    if as_json:
        render.print_json([render.task_dict(t) for t in tasks])
    else:
        render.console.print(render.tasks_table(tasks))


@jobs_app.command("show")
def jobs_show(
    name: str, config: ConfigOpt = None, database_url: DbOpt = None, as_json: JsonOpt = False
) -> None:
    """Show one defined job, its next fire time and its latest runs."""

    async def use(s: Service) -> tuple[Any, Any]:
        return await s.get_task(name), await s.history(name, limit=5)

    task, runs = _with_service(config, database_url, use)
    data = render.task_dict(task)
    data["recent_runs"] = [render.run_dict(r) for r in runs]
    if as_json:
        render.print_json(data)
        return
    for k, v in data.items():
        if k != "recent_runs":
            typer.echo(f"{k:>16}: {v}")
    render.console.print(render.runs_table(runs))


@jobs_app.command("history")
def jobs_history(
    name: str,
    limit: Annotated[int, typer.Option("--limit")] = 20,
    config: ConfigOpt = None,
    database_url: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """The latest runs of a job, newest first."""
    runs = _with_service(config, database_url, lambda s: s.history(name, limit=limit))
    if as_json:
        render.print_json([render.run_dict(r) for r in runs])
    else:
        render.console.print(render.runs_table(runs))


@jobs_app.command("trigger")
def jobs_trigger(
    name: str, config: ConfigOpt = None, database_url: DbOpt = None, as_json: JsonOpt = False
) -> None:
    """Run a job now, ahead of scheduled work; prints the job ID."""
    job_id = _with_service(config, database_url, lambda s: s.trigger(name))
    render.print_json({"id": job_id}) if as_json else typer.echo(job_id)


def _set_enabled(
    name: str, enabled: bool, config: Path | None, database_url: str | None, as_json: bool
) -> None:
    task = _with_service(config, database_url, lambda s: s.set_enabled(name, enabled))
    if as_json:
        render.print_json(render.task_dict(task))
    else:
        typer.echo(f"{name}: {'enabled' if enabled else 'disabled'}")


@jobs_app.command("enable")
def jobs_enable(
    name: str, config: ConfigOpt = None, database_url: DbOpt = None, as_json: JsonOpt = False
) -> None:
    """Let a job fire on its schedule again."""
    _set_enabled(name, True, config, database_url, as_json)


@jobs_app.command("disable")
def jobs_disable(
    name: str, config: ConfigOpt = None, database_url: DbOpt = None, as_json: JsonOpt = False
) -> None:
    """Stop a job from firing on its schedule (it can still be triggered)."""
    _set_enabled(name, False, config, database_url, as_json)


@jobs_app.command("cancel")
def jobs_cancel(
    job_id: int, config: ConfigOpt = None, database_url: DbOpt = None, as_json: JsonOpt = False
) -> None:
    """Cancel a pending job run by its ID."""
    job = _with_service(config, database_url, lambda s: s.cancel(job_id))
    render.print_json(render.job_dict(job)) if as_json else typer.echo(
        f"job {job.id}: {job.state.value}"
    )


@jobs_app.command("get")
def jobs_get(
    job_id: int, config: ConfigOpt = None, database_url: DbOpt = None, as_json: JsonOpt = False
) -> None:
    """Show one queued or finished job run by its ID, with its attempts."""

    async def use(s: Service) -> tuple[Any, Any, Any]:
        return await s.get_job(job_id), await s.runs_of_job(job_id), await s.explain(job_id)

    job, runs, hold = _with_service(config, database_url, use)
    data = render.job_dict(job)
    data["held"] = str(hold) if hold else None
    data["runs"] = [render.run_dict(r) for r in runs]
    if as_json:
        render.print_json(data)
        return
    for k, v in data.items():
        if k != "runs":
            typer.echo(f"{k:>13}: {v}")
    render.console.print(render.runs_table(runs))


@jobs_app.command("queue")
def jobs_queue(
    task: Annotated[str | None, typer.Option("--task")] = None,
    limit: Annotated[int, typer.Option("--limit")] = 50,
    config: ConfigOpt = None,
    database_url: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """List job runs (queued, running and finished), newest first."""
    jobs = _with_service(config, database_url, lambda s: s.list_jobs(task_name=task, limit=limit))
    if as_json:
        render.print_json([render.job_dict(j) for j in jobs])
    else:
        render.console.print(render.jobs_table(jobs))


# --- status and db -----------------------------------------------------------------------------
@app.command()
def status(
    config: ConfigOpt = None,
    database_url: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Job counts by state and the processors that have run against this store."""
    st = _with_service(config, database_url, lambda s: s.status())
    counts = {k.value: v for k, v in st.jobs_by_state.items()}
    if as_json:
        render.print_json(
            {"jobs": counts, "processors": [render.processor_dict(p) for p in st.processors]}
        )
        return
    typer.echo("jobs: " + ", ".join(f"{k} {v}" for k, v in counts.items()))
    for p in st.processors:
        state = (
            f"stopped {render.short_time(p.stopped_at)}"
            if p.stopped_at
            else (f"heartbeat {render.short_time(p.heartbeat_at)}")
        )
        typer.echo(f"processor {p.id} ({p.role}, v{p.version}): {state}")


@db_app.command("upgrade")
def db_upgrade(config: ConfigOpt = None, database_url: DbOpt = None) -> None:
    """Create or migrate the schema to the newest version."""
    from tickwork.store import create_store
    from tickwork.store import migrate as migrations

    def do() -> str | None:
        cfg = _config(config, database_url)
        store = create_store(cfg.settings.database_url)
        try:
            migrations.upgrade(store.engine)
            return migrations.current_revision(store.engine)
        except Exception as exc:
            raise StoreError(f"migration failed: {type(exc).__name__}: {exc}") from exc
        finally:
            store.engine.dispose()

    typer.echo(f"schema at revision {_guard(do)}")


@db_app.command("current")
def db_current(config: ConfigOpt = None, database_url: DbOpt = None) -> None:
    """Print the schema revision of the database and the newest one."""
    from tickwork.store import create_store
    from tickwork.store import migrate as migrations

    def do() -> tuple[str | None, str | None]:
        cfg = _config(config, database_url)
        store = create_store(cfg.settings.database_url)
        try:
            return migrations.current_revision(store.engine), migrations.head_revision()
        except Exception as exc:
            raise StoreError(f"cannot read the schema: {type(exc).__name__}: {exc}") from exc
        finally:
            store.engine.dispose()

    current, head = _guard(do)
    typer.echo(f"current: {current or 'none'}; newest: {head}")


def main() -> None:
    # Task paths like "examples.tasks:fn" are relative to where tickwork is started.
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    app()

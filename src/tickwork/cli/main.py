"""The ``tickwork`` command line: parse, call the service, render; no rules of its own.

Commands live by theme: ``serve`` (run, worker, scheduler, api), this module (next, enqueue,
jobs), ``activity`` (jobs events, missed), ``ops`` (status, reset-stuck, db), ``accounts``
(users, tokens, audit); ``commands``,
``running``, ``values`` and ``render`` hold what they share.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

# Registration order is the order of `tickwork --help`: the long-running commands first.
from tickwork.cli import (
    render,
    serve,  # noqa: F401  (registers its commands)
)
from tickwork.cli.commands import ConfigOpt, DbOpt, JsonOpt, WideOpt, app, jobs_app
from tickwork.cli.running import fail, guard, with_service
from tickwork.cli.values import parse_json, parse_time, parse_time_or_duration
from tickwork.errors import ConfigError

if TYPE_CHECKING:
    from tickwork.domain.fire_notes import NotedFire
    from tickwork.service.facade import Service
    from tickwork.service.jobs import EnqueueRequest


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
    count: Annotated[int, typer.Option("-n", "--count", min=1, help="How many fire times.")] = 5,
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
    start = guard(lambda: parse_time(after, "after")) if after else datetime.now(UTC)
    if job is None:
        # Only the schedule code: this is the command people run to try an expression.
        from tickwork.domain.tasks import DEFAULT_TIMEZONE
        from tickwork.service.definitions import preview_noted

        assert expression is not None
        noted = guard(lambda: preview_noted(expression, tz or DEFAULT_TIMEZONE, start, count))
        if as_json:
            render.print_json(
                [{"fire_at": f.fire_at.isoformat(), "notes": list(f.notes)} for f in noted]
            )
        else:
            for fire in noted:
                typer.echo(_fire_line(fire))
        return
    found = with_service(config, database_url, lambda s: s.preview_job_noted(job, start, count))
    if as_json:
        render.print_json(
            [
                {
                    "fire_at": f.fire_at.isoformat(),
                    "runs_at": f.runs_at.isoformat(),
                    "notes": list(f.notes),
                }
                for f in found
            ]
        )
        return
    for fire in found:
        typer.echo(_fire_line(fire))


def _fire_line(fire: NotedFire) -> str:
    """A fire as ISO 8601, where the calendar moves it, and its daylight-saving notes."""
    line = fire.fire_at.isoformat()
    notes = list(fire.notes)
    if fire.moved:
        line += f" -> moved to {fire.runs_at.isoformat()} (calendar)"
        notes = notes[:-1]  # the calendar's note, said by the arrow
    return line if not notes else f"{line}  ({'; '.join(notes)})"


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
    from tickwork.domain.durations import parse_duration
    from tickwork.domain.jobs import TriggeredBy
    from tickwork.service.jobs import EnqueueRequest

    def build() -> EnqueueRequest:
        if at is not None and delay is not None:
            raise ConfigError("give --at or --delay, not both", field="at")
        if deadline is not None and deadline_at is not None:
            raise ConfigError("give --deadline or --deadline-at, not both", field="deadline")
        return EnqueueRequest(
            task_name=task,
            args=parse_json(args, "args", list),
            kwargs=parse_json(kwargs, "kwargs", dict),
            at=parse_time(at, "at") if at else None,
            delay_seconds=parse_duration(delay, field="delay") if delay else None,
            key=key,
            priority=priority,
            unique_key=unique_key,
            unique_for_seconds=parse_duration(unique_for, field="unique-for")
            if unique_for
            else None,
            deadline_seconds=parse_duration(deadline, field="deadline") if deadline else None,
            deadline_at=parse_time(deadline_at, "deadline-at") if deadline_at else None,
            on_deadline=on_deadline,
        )

    req = guard(build)
    job_id = with_service(
        config,
        database_url,
        lambda s: s.enqueue(req, triggered_by=TriggeredBy.MANUAL),
        register=True,
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
    wide: WideOpt = False,
) -> None:
    """List defined jobs with their schedule and next fire time."""
    tasks = with_service(config, database_url, lambda s: s.list_tasks(), register=True)
    if as_json:
        render.print_json([render.task_dict(t) for t in tasks])
    else:
        render.tasks_table(tasks, wide=wide)


@jobs_app.command("show")
def jobs_show(
    name: str,
    config: ConfigOpt = None,
    database_url: DbOpt = None,
    as_json: JsonOpt = False,
    wide: WideOpt = False,
) -> None:
    """Show one defined job, its next fire time and its latest runs."""

    async def use(s: Service) -> tuple[Any, Any]:
        return await s.get_task(name), await s.history(name, limit=5)

    task, runs = with_service(config, database_url, use)
    data = render.task_dict(task)
    data["recent_runs"] = [render.run_dict(r) for r in runs]
    if as_json:
        render.print_json(data)
        return
    data["pause"] = render.pause_text(task.pause)
    data["auto"] = render.auto_text(task.auto, task.name)
    for k, v in data.items():
        if k != "recent_runs":
            typer.echo(f"{k:>16}: {v}")
    render.runs_table(runs, wide=wide)


@jobs_app.command("history")
def jobs_history(
    name: str,
    limit: Annotated[int, typer.Option("--limit")] = 20,
    config: ConfigOpt = None,
    database_url: DbOpt = None,
    as_json: JsonOpt = False,
    wide: WideOpt = False,
) -> None:
    """The latest runs of a job, newest first, with what each reported (tickwork.report)."""
    runs = with_service(config, database_url, lambda s: s.history(name, limit=limit))
    if as_json:
        render.print_json([render.run_dict(r) for r in runs])
    else:
        render.runs_table(runs, wide=wide)


@jobs_app.command("trigger")
def jobs_trigger(
    name: str, config: ConfigOpt = None, database_url: DbOpt = None, as_json: JsonOpt = False
) -> None:
    """Run a job now, ahead of scheduled work; prints the job ID."""
    job_id = with_service(config, database_url, lambda s: s.trigger(name), register=True)
    render.print_json({"id": job_id}) if as_json else typer.echo(job_id)


def _set_enabled(
    name: str, enabled: bool, config: Path | None, database_url: str | None, as_json: bool
) -> None:
    task = with_service(config, database_url, lambda s: s.set_enabled(name, enabled))
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


@jobs_app.command("pause")
def jobs_pause(
    name: str,
    reason: Annotated[str, typer.Option("--reason", help="Why (shown with its missed fires).")],
    until: Annotated[
        str | None,
        typer.Option(
            "--until",
            help="ISO time with offset, or a duration from now (30m, 2h); default: until resumed.",
        ),
    ] = None,
    config: ConfigOpt = None,
    database_url: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Pause a job's schedule: its fires are recorded as missed (paused), not run; it can
    still be triggered, and jobs already queued are not affected."""

    async def use(s: Service) -> Any:
        end = None if until is None else parse_time_or_duration(until, "until", s.clock.now())
        return await s.pause_task(name, reason, end)

    task = with_service(config, database_url, use)
    if as_json:
        render.print_json(render.task_dict(task))
    else:
        typer.echo(f"{name}: paused {render.pause_text(task.pause)}")


@jobs_app.command("resume")
def jobs_resume(
    name: str, config: ConfigOpt = None, database_url: DbOpt = None, as_json: JsonOpt = False
) -> None:
    """End a job's pause: its schedule goes on from now (the paused fires are not replayed)."""
    task = with_service(config, database_url, lambda s: s.resume_task(name))
    if as_json:
        render.print_json(render.task_dict(task))
    else:
        typer.echo(f"{name}: resumed")


@jobs_app.command("undo-reschedule")
def jobs_undo_reschedule(
    name: str, config: ConfigOpt = None, database_url: DbOpt = None, as_json: JsonOpt = False
) -> None:
    """Undo what auto-rescheduling changed of a job's schedule (stretch, spread, circuit
    breaker): its defined schedule again from now (audited)."""
    task = with_service(config, database_url, lambda s: s.undo_reschedule(name))
    if as_json:
        render.print_json(render.task_dict(task))
    else:
        typer.echo(f"{name}: schedule restored to its definition")


@jobs_app.command("cancel")
def jobs_cancel(
    job_id: int, config: ConfigOpt = None, database_url: DbOpt = None, as_json: JsonOpt = False
) -> None:
    """Cancel a pending job run by its ID."""
    job = with_service(config, database_url, lambda s: s.cancel(job_id))
    render.print_json(render.job_dict(job)) if as_json else typer.echo(
        f"job {job.id}: {job.state.value}"
    )


@jobs_app.command("retry")
def jobs_retry(
    job_id: int, config: ConfigOpt = None, database_url: DbOpt = None, as_json: JsonOpt = False
) -> None:
    """Run a finished job again as a new job; prints the new job's ID."""

    async def use(s: Service) -> Any:
        return await s.get_job(await s.retry(job_id))

    job = with_service(config, database_url, use)
    render.print_json(render.job_dict(job)) if as_json else typer.echo(job.id)


@jobs_app.command("get")
def jobs_get(
    job_id: int,
    config: ConfigOpt = None,
    database_url: DbOpt = None,
    as_json: JsonOpt = False,
    wide: WideOpt = False,
) -> None:
    """Show one queued or finished job run by its ID, with its attempts and what each
    reported (tickwork.report)."""

    async def use(s: Service) -> tuple[Any, Any, Any]:
        return await s.get_job(job_id), await s.runs_of_job(job_id), await s.explain(job_id)

    job, runs, hold = with_service(config, database_url, use)
    data = render.job_dict(job)
    data["held"] = str(hold) if hold else None
    data["runs"] = [render.run_dict(r) for r in runs]
    if as_json:
        render.print_json(data)
        return
    for k, v in data.items():
        if k != "runs":
            typer.echo(f"{k:>13}: {v}")
    render.runs_table(runs, wide=wide)


@jobs_app.command("queue")
def jobs_queue(
    task: Annotated[str | None, typer.Option("--task")] = None,
    limit: Annotated[int, typer.Option("--limit")] = 50,
    config: ConfigOpt = None,
    database_url: DbOpt = None,
    as_json: JsonOpt = False,
    wide: WideOpt = False,
) -> None:
    """List job runs (queued, running and finished), newest first."""
    jobs = with_service(config, database_url, lambda s: s.list_jobs(task_name=task, limit=limit))
    if as_json:
        render.print_json([render.job_dict(j) for j in jobs])
    else:
        render.jobs_table(jobs, wide=wide)


# Registered after the commands above, for the order of `tickwork --help`.
from tickwork.cli import (  # noqa: E402
    accounts,  # noqa: F401  (users, tokens, audit)
    activity,  # noqa: F401  (jobs events, missed)
    alerts,  # noqa: F401  (alerts list/history/ack/mute/test)
    backfill,  # noqa: F401  (backfill JOB, backfill list/cancel)
    checks,  # noqa: F401  (checks create/list/show/pause/resume/ping/delete)
    explain,  # noqa: F401  (explain, load)
    failures,  # noqa: F401  (failures, failures retry/discard)
    ops,  # noqa: F401  (registers its commands)
    report,  # noqa: F401  (report)
)

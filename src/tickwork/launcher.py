"""The composition root: the one module that knows every part. It opens the store (through
``store.open``), composes the use cases' ``Context`` for each kind of edge — a process, a
command, a producer — builds the runtime ``Processor`` and the process's event feed, and
serves roles until a signal.

It imports the runtime and the REST API only when a process runs them (``serve``), so that a
producer (``Tickwork(...).enqueue``) and the CLI's reading commands load neither FastAPI,
uvicorn nor the workers.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import gc
import logging
import signal
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from tickwork.callables import Resolver, resolve_callable
from tickwork.config import Settings
from tickwork.config.api import ApiSettings
from tickwork.domain.access import Principal, processor_principal
from tickwork.domain.checks import CheckSpec
from tickwork.domain.processors import new_processor_id
from tickwork.domain.tasks import TaskDefinition, TaskSource
from tickwork.errors import ConfigError, StoreError, TickworkError
from tickwork.logs import bind, unbind
from tickwork.service.context import Context
from tickwork.service.definition_rules import validate_definitions
from tickwork.service.facade import Service
from tickwork.store.open import open_existing_store, prepare_store

if TYPE_CHECKING:
    # The runtime and the REST API (FastAPI, uvicorn) are imported by a process that runs
    # them, not before.
    from tickwork.api.deps import ApiContext
    from tickwork.api.server import ApiServer
    from tickwork.runtime.processor import Processor, ProcessorSettings
    from tickwork.service.events import EventFeed

log = logging.getLogger("tickwork")


def processor_settings(
    settings: Settings, roles: frozenset[str] | None = None, processor_id: str | None = None
) -> ProcessorSettings:
    from tickwork.runtime.processor import ProcessorSettings

    extra: dict[str, Any] = {}
    if roles is not None:
        extra["roles"] = roles
    if processor_id is not None:
        extra["processor_id"] = processor_id
    return ProcessorSettings(
        batch_size=settings.batch_size,
        max_concurrent_jobs=settings.max_concurrent_jobs,
        poll_interval_seconds=settings.poll_interval_seconds,
        lease_seconds=settings.lease_seconds,
        shutdown_timeout_seconds=settings.shutdown_timeout_seconds,
        misfire_grace_seconds=settings.misfire_grace_seconds,
        output_limit_bytes=settings.output_limit_bytes,
        max_interruptions=settings.max_interruptions,
        rules=settings.claim_rules,
        retention=settings.retention,
        alerts=settings.alerts if alerts_configured(settings) else None,
        autoschedule=settings.autoschedule if settings.autoschedule.enabled else None,
        **extra,
    )


def alerts_configured(settings: Settings) -> bool:
    """Whether ``[alerts]`` has rules or channels (a process then evaluates or delivers)."""
    return bool(settings.alerts.rules or settings.alerts.channels)


# --- the edges that only use the use cases -------------------------------------------------
@contextlib.asynccontextmanager
async def command_context(settings: Settings, actor: Principal) -> AsyncIterator[Context]:
    """The use cases' context for one command (``cli:<user>``) over the existing, current
    database of ``settings``; never creates or migrates one (``store.open``). Closes it after."""
    store = await asyncio.to_thread(open_existing_store, settings.database_url)
    try:
        yield Context(
            store,
            rules=settings.claim_rules,
            actor=actor,
            max_interruptions=settings.max_interruptions,
            retention=settings.retention,
            alerts=settings.alerts,
            report=settings.report,
        )
    finally:
        await store.close()


async def producer_context(settings: Settings, resolve: Resolver, actor: Principal) -> Context:
    """The use cases' context of a producer (the Python API outside ``serve``): its store is
    prepared (an embedded SQLite file is created or migrated) and stays open for the process."""
    store = await asyncio.to_thread(prepare_store, settings.database_url)
    return Context(store, resolve=resolve, actor=actor)


def upgrade_schema(settings: Settings) -> str | None:
    """Create or migrate the schema of the database of ``settings``; its revision after."""
    from tickwork.store import migrate
    from tickwork.store.open import create_store

    store = create_store(settings.database_url)
    try:
        migrate.upgrade(store.engine)
        return migrate.current_revision(store.engine)
    except TickworkError:
        raise
    except Exception as exc:
        raise StoreError(f"migration failed: {type(exc).__name__}: {exc}") from exc
    finally:
        store.engine.dispose()


def schema_revisions(settings: Settings) -> tuple[str | None, str | None]:
    """The schema revision of the database of ``settings`` (creates nothing) and the newest."""
    from tickwork.store.migrate import HEAD_REVISION
    from tickwork.store.open import existing_revision

    return existing_revision(settings.database_url), HEAD_REVISION


def shown_store_url(url: str) -> str:
    """The store URL as logs show it (no password); ``ConfigError`` for one no backend takes."""
    from tickwork.store.engines import display_url, normalize_url

    normalize_url(url)
    return display_url(url)


# --- a process ---------------------------------------------------------------------------
async def serve(
    settings: Settings,
    definitions: Sequence[TaskDefinition],
    sources: Sequence[TaskSource],
    *,
    resolve: Resolver = resolve_callable,
    stop: asyncio.Event | None = None,
    on_started: Callable[[Processor, Service], None] | None = None,
    roles: frozenset[str] | None = None,
    processor_id: str | None = None,
    api: ApiSettings | None = None,
    on_api_started: Callable[[ApiServer], None] | None = None,
    calendars: Mapping[str, dict[str, Any]] | None = None,
    checks: Sequence[CheckSpec] | None = None,
) -> None:
    """Validate and sync ``definitions`` (and ``checks``, the configuration's heartbeat
    checks, unless None), then run the ``roles`` (default: scheduler and
    worker; none: only the API) and, with ``api``, the REST API, until ``stop`` is set or
    SIGINT/SIGTERM arrives. Everything is validated before anything is written. Every role
    syncs: the sync is idempotent and one transaction, so processes of any roles may start in
    any order."""
    from tickwork.runtime.notify.delivery import notify_definition
    from tickwork.runtime.processor import Processor, ProcessorSettings
    from tickwork.service.checks import Checks
    from tickwork.service.report import ScheduledReport, report_definition
    from tickwork.service.retention import record_prune

    if alerts_configured(settings):
        # The built-in task that delivers alert notices, synced like the process's own.
        definitions = [*definitions, notify_definition()]
        sources = [*sources, TaskSource.BUILTIN]
    if settings.report is not None:
        # The built-in task that sends the weekly report ([report] needs an [alerts] channel,
        # so the built-in source is synced already).
        when = (settings.report.schedule, settings.report.timezone)
        definitions = [*definitions, report_definition(*when)]
    validate_definitions(definitions, resolve)
    # No roles (``tickwork api``): no processor; processor settings refuse an empty set.
    pset = processor_settings(settings, roles, processor_id) if roles != frozenset() else None
    own_id = pset.processor_id if pset is not None else processor_id or new_processor_id()
    # Every line this process logs from here on names it (its tasks inherit the context).
    log_token = bind(processor=own_id)
    try:
        store = await asyncio.to_thread(prepare_store, settings.database_url)
    except BaseException:
        unbind(log_token)
        raise
    own_resolve = resolve
    if settings.report is not None:
        # The worker runs the built-in report task with this process's [report] and channels.
        report_ctx = Context(
            store,
            actor=processor_principal(own_id),
            alerts=settings.alerts,
            report=settings.report,
        )
        uptimes = Checks(report_ctx).uptimes  # the heartbeat checks' section
        own_resolve = ScheduledReport(report_ctx, uptimes).resolver(resolve)
    processor = None if pset is None else Processor(store, pset, resolve=own_resolve)
    ctx = Context(
        store,
        resolve=resolve,
        actor=processor_principal(own_id),  # for the audit entries of the sync
        on_enqueue=None if processor is None else processor.notify_work,
        on_schedules_changed=None if processor is None else processor.notify_schedules,
        on_checks_changed=None if processor is None else processor.notify_checks,
        rules=settings.claim_rules,
        api_job_kinds=api.job_kinds if api is not None else frozenset(),
        calendars=calendars or {},  # [calendars.NAME], for definitions made over the API
        max_interruptions=settings.max_interruptions,
        heartbeat_interval_seconds=(pset or ProcessorSettings()).heartbeat_interval_seconds,
        retention=settings.retention,
        alerts=settings.alerts,
        report=settings.report,
    )
    if processor is not None and processor.pruner is not None:
        # The worker's own passes are audited as this processor.
        processor.pruner.on_pruned = functools.partial(record_prune, ctx)
    service = Service(ctx)
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    installed = _install_signals(loop, stop)
    api_server: ApiServer | None = None
    api_context: ApiContext | None = None
    feed: EventFeed | None = None
    alert_wakes: asyncio.Task[None] | None = None
    try:
        if processor is None:
            await store.open()
        if api is not None:
            # Checked before anything runs: an open API must not face the network.
            await check_api_exposure(ctx, api)
        report = await service.sync_definitions(definitions, sources)
        log.info(
            "definitions synced: %d created, %d updated, %d removed, %d unchanged",
            len(report.created),
            len(report.updated),
            len(report.removed),
            len(report.unchanged),
        )
        if checks is not None:
            synced = await service.checks.sync(checks)
            log.info(
                "checks synced: %d created, %d updated, %d removed",
                len(synced.created),
                len(synced.updated),
                len(synced.removed),
            )
        if processor is not None:
            await processor.start()
            if on_started:
                on_started(processor, service)
        if processor is not None and processor.evaluator is not None:
            from tickwork.service.events import EventFeed

            feed = EventFeed(ctx)
            alert_wakes = asyncio.create_task(
                wake_on_events(feed, processor.evaluator.wake), name="tickwork-alert-wakes"
            )
        if api is not None:
            from tickwork.api.app import create_app as create_api
            from tickwork.api.deps import ApiContext
            from tickwork.api.server import ApiServer
            from tickwork.dashboard.app import create_app
            from tickwork.service.events import EventFeed

            # The process's one event feed; the API's streams and the alerts subscribe to it.
            worker = None if processor is None else processor.worker
            api_context = ApiContext.build(
                ctx,
                api,
                events=feed or EventFeed(ctx),
                claim_durations=None if worker is None else worker.claim_durations,
            )
            api_server = ApiServer(
                create_app(api_context) if api.dashboard else create_api(api_context),
                api.host,
                api.port,
                shutdown_timeout_seconds=min(settings.shutdown_timeout_seconds, 10.0),
            )
            await api_server.start()
            if on_api_started:
                on_api_started(api_server)
        settle_heap()
        await stop.wait()
        log.info("stopping: no new jobs are claimed; waiting for running ones")
    finally:
        if api_server is not None:
            if api_context is not None and api_context.events is not None:
                await api_context.events.close()  # ends event streams, so shutdown is quick
            await api_server.stop()
        if feed is not None:
            await feed.close()
        if alert_wakes is not None:
            alert_wakes.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await alert_wakes
        if processor is not None:
            await processor.stop()
        await store.close()
        for sig in installed:
            loop.remove_signal_handler(sig)
        unbind(log_token)


def settle_heap() -> None:
    """Put what a process built at start-up (modules, app, store) out of the collector's sight.

    It lives as long as the process, yet every full collection walked all of it: those pauses
    made the dashboard's slowest requests two to three times their median. Frozen objects are
    never collected, so garbage is collected first."""
    gc.collect()
    gc.freeze()


async def wake_on_events(feed: EventFeed, wake: Callable[[Iterable[str] | None], None]) -> None:
    """Call ``wake`` when a run finishes or a fire is missed (with its job's name), or a
    processor goes down (with None: everything), in any process of the store (the alert
    evaluator then evaluates without waiting for its tick)."""
    from tickwork.service.events import FIRE_MISSED, PROCESSOR_DOWN, RUN_FINISHED

    kinds = {RUN_FINISHED, FIRE_MISSED, PROCESSOR_DOWN}
    while True:
        try:
            subscription = await feed.subscribe(lambda event: event.type in kinds)
        except StoreError as exc:
            log.warning("alerts: cannot follow the event feed (%s); retrying", exc)
            await asyncio.sleep(5.0)
            continue
        async for event in subscription:
            task = getattr(event.subject, "task_name", None)
            wake(None if event.type == PROCESSOR_DOWN or task is None else [task])
        if not subscription.dropped:
            return  # the feed closed (shutdown); a dropped subscriber follows it again


async def check_api_exposure(ctx: Context, api: ApiSettings) -> None:
    """Without users the API lets every request in (as ``local``): allowed on a loopback
    address only. ``ConfigError`` (exit status 2) for any other address."""
    from tickwork.service.accounts import Accounts  # argon2, for the API only

    if await Accounts(ctx).has_users():
        return
    if not api.loopback_only:
        raise ConfigError(
            f"refusing to serve the API on {api.host}: there are no users, so it would let"
            " anyone in. Create an admin user and a token first (`tickwork users create NAME"
            " --role admin`, `tickwork tokens create NAME --scope admin`), or bind to 127.0.0.1",
            field="api.host",
        )
    log.warning(
        "API has no users: open to local requests only (%s); every request acts as 'local'",
        api.host,
    )


def _install_signals(loop: asyncio.AbstractEventLoop, stop: asyncio.Event) -> list[int]:
    installed: list[int] = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, stop.set)
        except (NotImplementedError, RuntimeError, ValueError):
            continue  # not the main thread, or no signals on this platform
        installed.append(sig)
    return installed

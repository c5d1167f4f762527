"""Running a whole tickwork process: prepare the store, sync definitions, serve until a signal.

The REST API is imported only by a process that serves it (``serve(api=...)``), so that the
Python API and the CLI never load FastAPI or uvicorn to enqueue or to read.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from tickwork.config import Settings
from tickwork.config.api import ApiSettings
from tickwork.definitions import validate_definitions
from tickwork.domain.access import processor_principal
from tickwork.domain.tasks import TaskDefinition, TaskSource
from tickwork.errors import ConfigError
from tickwork.runtime.executors.python import resolve_callable
from tickwork.runtime.heartbeat import new_processor_id
from tickwork.runtime.processor import Processor, ProcessorSettings
from tickwork.service import Service
from tickwork.store.base import Store
from tickwork.store.open import prepare_store

if TYPE_CHECKING:
    # The REST API (FastAPI, uvicorn) is imported when a process serves it, not before.
    from tickwork.api.deps import ApiContext
    from tickwork.api.server import ApiServer

log = logging.getLogger("tickwork")


def processor_settings(
    settings: Settings, roles: frozenset[str] | None = None, processor_id: str | None = None
) -> ProcessorSettings:
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
        **extra,
    )


async def serve(
    settings: Settings,
    definitions: Sequence[TaskDefinition],
    sources: Sequence[TaskSource],
    *,
    resolve: Callable[[str], Callable[..., Any]] = resolve_callable,
    stop: asyncio.Event | None = None,
    on_started: Callable[[Processor, Service], None] | None = None,
    roles: frozenset[str] | None = None,
    processor_id: str | None = None,
    api: ApiSettings | None = None,
    on_api_started: Callable[[ApiServer], None] | None = None,
    calendars: Mapping[str, dict[str, Any]] | None = None,
) -> None:
    """Validate and sync ``definitions``, then run the ``roles`` (default: scheduler and
    worker; none: only the API) and, with ``api``, the REST API, until ``stop`` is set or
    SIGINT/SIGTERM arrives. Everything is validated before anything is written. Every role
    syncs: the sync is idempotent and one transaction, so processes of any roles may start in
    any order."""
    validate_definitions(definitions, resolve)
    # No roles (``tickwork api``): no processor; processor settings refuse an empty set.
    pset = processor_settings(settings, roles, processor_id) if roles != frozenset() else None
    store = await asyncio.to_thread(prepare_store, settings.database_url)
    processor = None if pset is None else Processor(store, pset, resolve=resolve)
    own_id = pset.processor_id if pset is not None else processor_id or new_processor_id()
    service = Service(
        store,
        resolve=resolve,
        actor=processor_principal(own_id),  # for the audit entries of the sync
        on_enqueue=None if processor is None else processor.notify_work,
        on_schedules_changed=None if processor is None else processor.notify_schedules,
        rules=settings.claim_rules,
        api_job_kinds=api.job_kinds if api is not None else frozenset(),
        calendars=calendars,  # [calendars.NAME] of the config, for definitions made over the API
        max_interruptions=settings.max_interruptions,
    )
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    installed = _install_signals(loop, stop)
    api_server: ApiServer | None = None
    api_context: ApiContext | None = None
    try:
        if processor is None:
            await store.open()
        if api is not None:
            # Checked before anything runs: an open API must not face the network.
            await check_api_exposure(store, api)
        report = await service.sync_definitions(definitions, sources)
        log.info(
            "definitions synced: %d created, %d updated, %d removed, %d unchanged",
            len(report.created),
            len(report.updated),
            len(report.removed),
            len(report.unchanged),
        )
        if processor is not None:
            await processor.start()
            if on_started:
                on_started(processor, service)
        if api is not None:
            from tickwork.api.app import create_app
            from tickwork.api.deps import ApiContext
            from tickwork.api.server import ApiServer

            api_context = ApiContext.build(
                store,
                api,
                service=service,
                notify=None if processor is None else processor.notify_work,
                heartbeat_interval_seconds=(pset or ProcessorSettings()).heartbeat_interval_seconds,
            )
            api_server = ApiServer(
                create_app(api_context),
                api.host,
                api.port,
                shutdown_timeout_seconds=min(settings.shutdown_timeout_seconds, 10.0),
            )
            await api_server.start()
            if on_api_started:
                on_api_started(api_server)
        await stop.wait()
        log.info("stopping: no new jobs are claimed; waiting for running ones")
    finally:
        if api_server is not None:
            if api_context is not None and api_context.events is not None:
                await api_context.events.close()  # ends event streams, so shutdown is quick
            await api_server.stop()
        if processor is not None:
            await processor.stop()
        await store.close()
        for sig in installed:
            loop.remove_signal_handler(sig)


async def check_api_exposure(store: Store, api: ApiSettings) -> None:
    """Without users the API lets every request in (as ``local``): allowed on a loopback
    address only. ``ConfigError`` (exit status 2) for any other address."""
    from tickwork.accounts import Accounts  # argon2, for the API only

    if await Accounts(store).has_users():
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

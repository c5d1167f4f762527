"""Running a whole tickwork process: prepare the store, sync definitions, serve until a signal."""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Callable, Sequence
from typing import Any

from tickwork.config import Settings
from tickwork.domain.admission import ClaimRules
from tickwork.domain.tasks import TaskDefinition, TaskSource
from tickwork.errors import StoreError
from tickwork.runtime.executors.python import resolve_callable
from tickwork.runtime.processor import Processor, ProcessorSettings
from tickwork.service import Service, validate_definitions
from tickwork.store import SqlStore, create_store
from tickwork.store import migrate as migrations

log = logging.getLogger("tickwork")


def prepare_store(url: str) -> SqlStore:
    """A store whose schema is current: an embedded SQLite file is migrated on the spot,
    a server database must be migrated on purpose (``tickwork db upgrade``)."""
    store = create_store(url)
    try:
        if migrations.is_current(store.engine):
            return store
        if store.dialect == "sqlite":
            migrations.upgrade(store.engine)
            return store
    except StoreError:
        raise
    except Exception as exc:
        raise StoreError(f"cannot open the database: {type(exc).__name__}: {exc}") from exc
    raise StoreError("the database schema is not current: run `tickwork db upgrade` first")


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
        rules=claim_rules(settings),
        **extra,
    )


def claim_rules(settings: Settings) -> ClaimRules:
    return ClaimRules(key_limit=settings.key_limit, rate_limit=settings.rate_limit)


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
) -> None:
    """Validate and sync ``definitions``, then run the ``roles`` (default: scheduler and
    worker) until ``stop`` is set or SIGINT/SIGTERM arrives. Everything is validated before
    anything is written. Every role syncs: the sync is idempotent and one transaction, so
    processes of any roles may start in any order."""
    validate_definitions(definitions, resolve)
    pset = processor_settings(settings, roles, processor_id)
    store = await asyncio.to_thread(prepare_store, settings.database_url)
    processor = Processor(store, pset, resolve=resolve)
    service = Service(
        store,
        resolve=resolve,
        on_enqueue=processor.notify_work,
        on_schedules_changed=processor.notify_schedules,
        rules=claim_rules(settings),
    )
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    installed = _install_signals(loop, stop)
    try:
        report = await service.sync_definitions(definitions, sources)
        log.info(
            "definitions synced: %d created, %d updated, %d removed, %d unchanged",
            len(report.created),
            len(report.updated),
            len(report.removed),
            len(report.unchanged),
        )
        await processor.start()
        if on_started:
            on_started(processor, service)
        await stop.wait()
        log.info("stopping: no new jobs are claimed; waiting for running ones")
    finally:
        await processor.stop()
        await store.close()
        for sig in installed:
            loop.remove_signal_handler(sig)


def _install_signals(loop: asyncio.AbstractEventLoop, stop: asyncio.Event) -> list[int]:
    installed: list[int] = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, stop.set)
        except (NotImplementedError, RuntimeError, ValueError):
            continue  # not the main thread, or no signals on this platform
        installed.append(sig)
    return installed

"""Processor registration: a unique ID per process and a periodic heartbeat row in the store;
each beat also reads the cluster's run-time control (pause, overrides) for the worker."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import os
import socket
from collections.abc import Callable

from tickwork.clock import Clock, SystemClock
from tickwork.domain.processors import DEFAULT_HEARTBEAT_SECONDS
from tickwork.domain.queries import ControlState, ProcessorInfo
from tickwork.runtime.backoff import StoreRetry
from tickwork.runtime.loop import BackgroundLoop
from tickwork.store.base import RuntimeStore
from tickwork.version import __version__

log = logging.getLogger("tickwork.heartbeat")


class Heartbeat:
    def __init__(
        self,
        store: RuntimeStore,
        processor_id: str,
        role: str,
        *,
        interval_seconds: float = DEFAULT_HEARTBEAT_SECONDS,
        clock: Clock | None = None,
        on_control: Callable[[ControlState], None] | None = None,
    ) -> None:
        self.store = store
        # Given the control state read with each beat (workers follow it); None: not read.
        self.on_control = on_control
        self.clock = clock or SystemClock()
        self.interval_seconds = interval_seconds
        now = self.clock.now()
        self.info = ProcessorInfo(
            id=processor_id,
            role=role,
            host=socket.gethostname(),
            pid=os.getpid(),
            version=__version__,
            started_at=now,
            heartbeat_at=now,
            stopped_at=None,
        )
        self._loop = BackgroundLoop("tickwork-heartbeat", self._run)
        self.retry = StoreRetry(log)

    async def start(self) -> None:
        if not self._loop.running:
            await self.store.heartbeat(self.info)
            await self._read_control()  # before the worker starts: a paused cluster stays so
            self._loop.start()

    async def stop(self) -> None:
        if not await self._loop.stop():
            return
        now = self.clock.now()
        self.info = dataclasses.replace(self.info, heartbeat_at=now, stopped_at=now)
        try:
            await self.store.heartbeat(self.info)
        except Exception as exc:
            log.warning("could not record the stop of processor %s: %s", self.info.id, exc)

    async def _run(self) -> None:
        while True:
            if not self.retry.degraded:
                await asyncio.sleep(self.interval_seconds)
            self.info = dataclasses.replace(self.info, heartbeat_at=self.clock.now())
            try:
                await self.store.heartbeat(self.info)
                await self._read_control()
            except Exception as exc:
                await self.retry.failed(exc)  # then beat again at once: others may think us lost
                continue
            self.retry.succeeded()

    async def _read_control(self) -> None:
        if self.on_control is not None:
            self.on_control(await self.store.get_control())

"""The load balancer's probe (``/health``) and the cluster at a glance (``/api/status``)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel

from tickwork.service.status import Status
from tickwork.version import __version__
from tickwork.wire import ProcessorOut, processor_out


class HealthOut(BaseModel):
    status: str  # "ok" or "unavailable"
    timestamp: datetime


class StatusOut(BaseModel):
    version: str
    jobs_by_state: dict[str, int]
    processors: list[ProcessorOut]


def status_out(status: Status) -> StatusOut:
    return StatusOut(
        version=__version__,
        jobs_by_state={state.value: n for state, n in sorted(status.jobs_by_state.items())},
        processors=[processor_out(p) for p in status.processors],
    )

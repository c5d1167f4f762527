"""Processors' identity and liveness: roles, the ID of a process, how often it beats, when it
is lost.

One rule for every reader of processor rows: the heartbeat writes them (runtime), status,
health and the event feed read them (use cases).
"""

from __future__ import annotations

import os
import secrets
import socket
from datetime import datetime

from tickwork.domain.queries import ProcessorInfo
from tickwork.errors import ConfigError

ROLE_SCHEDULER = "scheduler"
ROLE_WORKER = "worker"
ROLES = frozenset({ROLE_SCHEDULER, ROLE_WORKER})
MAX_PROCESSOR_ID_LENGTH = 200  # tickwork_processors.id

DEFAULT_HEARTBEAT_SECONDS = 10.0
# What a processor does unless told otherwise ([tickwork], TICKWORK_*, flags): defined here,
# once, for the settings (config) and the runtime components alike.
DEFAULT_BATCH_SIZE = 50
DEFAULT_MAX_CONCURRENT_JOBS = 20
DEFAULT_POLL_INTERVAL_SECONDS = 1.0
DEFAULT_LEASE_SECONDS = 60.0
DEFAULT_SHUTDOWN_TIMEOUT_SECONDS = 30.0
DEFAULT_OUTPUT_LIMIT_BYTES = 65536
DEFAULT_MISFIRE_GRACE_SECONDS = 60.0
# A processor whose last heartbeat is older than this many heartbeat intervals is "lost".
LOST_AFTER_HEARTBEATS = 3

RUNNING = "running"
LOST = "lost"
STOPPED = "stopped"


def new_processor_id() -> str:
    """``host-pid-random``: unique across hosts and restarts."""
    return f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(3)}"


def validate_processor_id(processor_id: str) -> str:
    """A processor ID as given (``--processor-id``): 1 to 200 characters, not only blanks."""
    if not processor_id.strip() or len(processor_id) > MAX_PROCESSOR_ID_LENGTH:
        raise ConfigError(
            f"must be 1 to {MAX_PROCESSOR_ID_LENGTH} characters, got {processor_id!r}",
            field="processor_id",
        )
    return processor_id


def lost_after_seconds(heartbeat_interval_seconds: float) -> float:
    return LOST_AFTER_HEARTBEATS * heartbeat_interval_seconds


def processor_state(info: ProcessorInfo, now: datetime, lost_after_seconds: float) -> str:
    """``running``, ``lost`` (no heartbeat for ``lost_after_seconds``) or ``stopped``."""
    if info.stopped_at is not None:
        return STOPPED
    if (now - info.heartbeat_at).total_seconds() > lost_after_seconds:
        return LOST
    return RUNNING

"""The use cases: what every adapter (CLI, REST API, Python API, later the dashboard and
alerts) may ask of tickwork, over a ``Context`` that the edge composes.

Names are imported on first use, so that a producer that only enqueues does not load the
accounts (argon2) or the event feed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tickwork.lazy import lazy_exports

if TYPE_CHECKING:
    from tickwork.service.accounts import Accounts
    from tickwork.service.analytics import Analytics
    from tickwork.service.context import Context
    from tickwork.service.control import Control
    from tickwork.service.events import EventFeed
    from tickwork.service.facade import Service
    from tickwork.service.jobs import EnqueueRequest

_EXPORTS = {
    "Accounts": "tickwork.service.accounts",
    "Analytics": "tickwork.service.analytics",
    "Context": "tickwork.service.context",
    "Control": "tickwork.service.control",
    "EnqueueRequest": "tickwork.service.jobs",
    "EventFeed": "tickwork.service.events",
    "Service": "tickwork.service.facade",
}

__all__ = ["Accounts", "Analytics", "Context", "Control", "EnqueueRequest", "EventFeed", "Service"]


__getattr__ = lazy_exports(__name__, _EXPORTS, globals())

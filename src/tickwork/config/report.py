"""The ``[report]`` table of tickwork.toml: the weekly report, sent as a tickwork schedule.

```toml
[report]
schedule = "0 9 * * MON"          # when it is sent (the default: Mondays at 09:00)
timezone = "Europe/Berlin"        # of the schedule (default UTC)
recipients = ["ops@example.com"]  # who gets it
channel = "mail"                  # an e-mail channel of [alerts.channels]: its SMTP settings
since = "7d"                      # the range it covers, back from when it is made
```

Strings take ``${VAR}`` substitution like ``[alerts]``. Every error names its field
(``report.recipients[1]``, ``report.channel``...).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from tickwork.config.alerts import AlertSettings
from tickwork.config.tables import Table, describe, substitute_tree, unknown_key_message
from tickwork.domain.channels import EmailChannel
from tickwork.domain.durations import parse_duration
from tickwork.domain.schedules import parse_schedule
from tickwork.domain.tasks import DEFAULT_TIMEZONE
from tickwork.errors import ConfigError

REPORT_KEYS = ("schedule", "timezone", "recipients", "channel", "since")
DEFAULT_REPORT_SCHEDULE = "0 9 * * MON"
DEFAULT_REPORT_SINCE = "7d"
# A report covers at least an hour and at most what the statistics read at once.
MIN_REPORT_SECONDS = 3600.0
MAX_REPORT_SECONDS = 366 * 86400.0
_ADDRESS = re.compile(r"[^@\s<>,]+@[^@\s<>,]+\.[^@\s<>,]+")


@dataclass(frozen=True)
class ReportSettings:
    """``[report]``, checked, and checked against ``[alerts]`` (its channel sends e-mail)."""

    recipients: tuple[str, ...]
    channel: str
    schedule: str = DEFAULT_REPORT_SCHEDULE
    timezone: str = DEFAULT_TIMEZONE
    since: str = DEFAULT_REPORT_SINCE


def report_from_table(
    table: object, environ: Mapping[str, str], alerts: AlertSettings
) -> ReportSettings | None:
    """The ``[report]`` table validated (None when absent), with ``${VAR}`` replaced."""
    if table is None:
        return None
    if not isinstance(table, dict):
        raise ConfigError(f"expected a table, got {describe(table)}", field="report")
    data = substitute_tree(table, environ, job=None, path="report")
    top = Table(data, job=None, prefix="report.")
    top.check_keys(REPORT_KEYS)
    timezone = top.string("timezone") or DEFAULT_TIMEZONE
    schedule = top.string("schedule") or DEFAULT_REPORT_SCHEDULE
    try:
        parse_schedule(schedule, timezone)
    except ConfigError as exc:
        field = "timezone" if exc.field == "timezone" else "schedule"
        raise top.error(field, exc.reason) from None
    since = top.string("since") or DEFAULT_REPORT_SINCE
    seconds = parse_duration(since, field="report.since")
    if not MIN_REPORT_SECONDS <= seconds <= MAX_REPORT_SECONDS:
        raise top.error("since", f"must be from 1h to 366d, got {since!r}")
    return ReportSettings(
        recipients=_recipients(top),
        channel=_channel(top, alerts),
        schedule=schedule,
        timezone=timezone,
        since=since,
    )


def _recipients(top: Table) -> tuple[str, ...]:
    values = top.array("recipients")
    if not values:
        raise top.error("recipients", "required: at least one e-mail address")
    for index, value in enumerate(values):
        if not isinstance(value, str):
            raise top.error(f"recipients[{index}]", f"expected a string, got {describe(value)}")
        if not _ADDRESS.fullmatch(value.strip()):
            raise top.error(f"recipients[{index}]", f"not an e-mail address: {value[:80]!r}")
    return tuple(v.strip() for v in values)


def _channel(top: Table, alerts: AlertSettings) -> str:
    name = top.string("channel")
    if not name:
        raise top.error("channel", "required: the name of an e-mail channel of [alerts.channels]")
    found = alerts.channels.get(name)
    if found is None:
        emails = sorted(n for n, c in alerts.channels.items() if isinstance(c, EmailChannel))
        hint = unknown_key_message(name, emails, what="e-mail channel") if emails else ""
        raise top.error(
            "channel", hint or f"no channel {name!r}: define it in [alerts.channels.{name}]"
        )
    if not isinstance(found, EmailChannel):
        raise top.error(
            "channel", f"channel {name!r} is of type {found.kind.value}; the report needs email"
        )
    return name


__all__ = ["REPORT_KEYS", "ReportSettings", "report_from_table"]

"""The tables of what tickwork tells people about: alert rules' states, their transitions and
the channels' health; heartbeat checks, their pings and the hours of uptime replayed from them.
Defined on ``schema.metadata`` beside the engine's tables (``store/schema.py``, which imports
this module so that the metadata always holds them)."""

from __future__ import annotations

import sqlalchemy as sa

from tickwork.store.schema import UTCDateTime, metadata

# --- alerts: the state of each rule × subject, its transitions, the channels' health -------
# One row per rule × subject (``*``: the rule itself, holding an operator's mute of it).
# ``version`` grows by one with each stored step: a write names the version it was computed
# from and changes nothing when another evaluator stored a step first (compare-and-set).
alert_states = sa.Table(
    "tickwork_alert_states",
    metadata,
    sa.Column("rule", sa.String(100), primary_key=True),
    sa.Column("subject", sa.String(300), primary_key=True),
    sa.Column("status", sa.String(8), nullable=False),
    sa.Column("changed_at", UTCDateTime),
    sa.Column("why", sa.Text, nullable=False),
    sa.Column("announced", sa.Boolean, nullable=False),
    sa.Column("announced_since", UTCDateTime),
    sa.Column("last_notice_at", UTCDateTime),
    # Status changes within the flap window, as epoch seconds, oldest first.
    sa.Column("flips", sa.JSON, nullable=False),
    sa.Column("flapping", sa.Boolean, nullable=False),
    sa.Column("acked_by", sa.String(200)),
    sa.Column("acked_at", UTCDateTime),
    sa.Column("muted_until", UTCDateTime),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
)

# Every stored step: when, from, to, why, the notices sent (kinds), to which channels, and the
# delivery jobs created with it (their runs say how each delivery went).
alert_transitions = sa.Table(
    "tickwork_alert_transitions",
    metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True),
    sa.Column("rule", sa.String(100), nullable=False),
    sa.Column("subject", sa.String(300), nullable=False),
    sa.Column("at", UTCDateTime, nullable=False),
    sa.Column("from_status", sa.String(8), nullable=False),
    sa.Column("to_status", sa.String(8), nullable=False),
    sa.Column("why", sa.Text, nullable=False),
    sa.Column("sent", sa.JSON, nullable=False),
    sa.Column("channels", sa.JSON, nullable=False),
    sa.Column("job_ids", sa.JSON, nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
)
sa.Index(
    "ix_tickwork_alert_transitions_key",
    alert_transitions.c.rule,
    alert_transitions.c.subject,
    alert_transitions.c.id,
)
sa.Index("ix_tickwork_alert_transitions_at", alert_transitions.c.at)

# Per channel: failed delivery attempts in a row since its last success (the channel_failing
# rule reads it), the last error (never a secret: ``DeliveryError`` names none).
alert_channels = sa.Table(
    "tickwork_alert_channels",
    metadata,
    sa.Column("channel", sa.String(64), primary_key=True),
    sa.Column("failures", sa.Integer, nullable=False),
    sa.Column("last_error", sa.Text),
    sa.Column("last_failure_at", UTCDateTime),
    sa.Column("last_success_at", UTCDateTime),
)

# --- heartbeat checks: outside jobs pinging in, and their pings ---------------------------------
# One row per check: its spec and what its pings told (``domain.checks.receive``); the status is
# computed from these and the time. ``uuid`` is the ping address (the only credential a ping
# needs); ``name`` is also the slug of /ping/{ping_key}/{slug}.
checks = sa.Table(
    "tickwork_checks",
    metadata,
    sa.Column("uuid", sa.String(36), primary_key=True),
    sa.Column("name", sa.String(100), nullable=False),
    sa.Column("period_seconds", sa.Float),
    sa.Column("cron", sa.String(200)),
    sa.Column("timezone", sa.String(64), nullable=False),
    sa.Column("grace_seconds", sa.Float, nullable=False),
    sa.Column("description", sa.Text, nullable=False),
    sa.Column("tags", sa.JSON, nullable=False),
    sa.Column("source", sa.String(8), nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("paused_at", UTCDateTime),
    sa.Column("last_ping_at", UTCDateTime),
    sa.Column("last_ping_kind", sa.String(8)),
    sa.Column("last_outcome", sa.String(8)),
    sa.Column("last_outcome_at", UTCDateTime),
    sa.Column("last_exit_status", sa.Integer),
    sa.Column("started_at", UTCDateTime),
    sa.Column("start_rid", sa.String(64)),
    sa.Column("last_duration_seconds", sa.Float),
    sa.Column("pings", sa.BigInteger, nullable=False),
)
sa.Index("ux_tickwork_checks_name", checks.c.name, unique=True)

# The seconds of each status a check's hour row keeps (``unknown``: before the check, or pings
# removed before they were replayed).
CHECK_HOUR_PARTS = ("new", "up", "late", "down", "paused", "unknown")

# The pings of each check that retention keeps (at most the newest ``KEEP_PINGS``; older ones
# go as new ones come), the body cut to ``MAX_BODY_BYTES``.
check_pings = sa.Table(
    "tickwork_check_pings",
    metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True),
    sa.Column("check_uuid", sa.String(36), nullable=False),
    sa.Column("kind", sa.String(8), nullable=False),
    sa.Column("at", UTCDateTime, nullable=False),
    sa.Column("exit_status", sa.Integer),
    sa.Column("rid", sa.String(64)),
    sa.Column("method", sa.String(8), nullable=False),
    sa.Column("remote_addr", sa.String(64), nullable=False),
    sa.Column("user_agent", sa.String(200), nullable=False),
    sa.Column("body", sa.Text, nullable=False),
    sa.Column("body_bytes", sa.Integer, nullable=False),
    sa.Column("duration_seconds", sa.Float),
)
sa.Index("ix_tickwork_check_pings_check", check_pings.c.check_uuid, check_pings.c.id)
# A check's pings of a range, and its newest of a kind before it (the report's uptime).
sa.Index(
    "ix_tickwork_check_pings_kind_at",
    check_pings.c.check_uuid,
    check_pings.c.kind,
    check_pings.c.at,
)

# Each check's seconds by status in an hour that ended, replayed once from its pings (the
# weekly report's uptime, ``domain/uptime.py``); removed with the check and by retention. By
# hour first: a report reads a range of hours, retention removes the oldest.
check_hours = sa.Table(
    "tickwork_check_hours",
    metadata,
    sa.Column("hour", UTCDateTime, primary_key=True),
    sa.Column("check_uuid", sa.String(36), primary_key=True),
    *(sa.Column(f"{part}_seconds", sa.Float, nullable=False) for part in CHECK_HOUR_PARTS),
)

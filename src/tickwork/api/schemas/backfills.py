"""The body of a backfill request (``POST /api/jobs/{name}/backfill``); the answers are
``tickwork.wire_backfills``' shapes, as ``tickwork backfill --json`` prints them."""

from __future__ import annotations

from pydantic import Field

from tickwork.api.schemas.common import StrictIn
from tickwork.domain.backfills import MAX_FIRES_CEILING


class BackfillIn(StrictIn):
    from_: str = Field(
        alias="from",
        max_length=64,
        description="Start of the range, included: an ISO 8601 time with its UTC offset.",
        examples=["2026-11-01T00:00:00Z"],
    )
    to: str = Field(
        max_length=64,
        description="End of the range, included: an ISO 8601 time with its UTC offset, not in"
        " the future.",
        examples=["2026-11-08T00:00:00Z"],
    )
    overlap: str = Field(
        default="queue",
        max_length=16,
        description="queue: one job at a time, in fire order (default); allow: all due at"
        " once. skip is refused: a backfill wants every fire of its range.",
    )
    max: int | None = Field(
        default=None,
        ge=1,
        le=MAX_FIRES_CEILING,
        description="The most fires to create (default 1,000); a range with more is refused"
        " with its count.",
    )
    dry_run: bool = Field(
        default=False, description="Only say which fires it would create; create nothing."
    )

"""How both adapters show an explanation of a job's fires (``GET /api/jobs/{name}/explain``,
``tickwork explain --json``) and the load preview (``GET /api/load``, ``tickwork load
--json``), beside ``wire.py`` in its layer: one pydantic model per object, built by one
function."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING

from pydantic import Field

from tickwork.wire import MissedFireOut, QueueJobOut, Shape, missed_fire_out, queue_job_out

if TYPE_CHECKING:
    from tickwork.domain.explain import Explanation, FireAnswer
    from tickwork.domain.load import LoadReport


class FireHoldOut(Shape):
    policy: str
    detail: str
    until: datetime | None
    message: str


class FireAnswerOut(Shape):
    fire_at: datetime
    outcome: str = Field(
        description="ran, running, pending, skipped, missed, unrecorded, not_yet_fired, upcoming"
    )
    summary: str
    scheduled: bool = Field(description="A fire of the current schedule (false: records only).")
    job: QueueJobOut | None
    hold: FireHoldOut | None
    missed: MissedFireOut | None


class ChangeOut(Shape):
    at: datetime
    actor: str
    action: str
    summary: str


class ExplanationOut(Shape):
    job: str
    at: datetime
    start: datetime
    end: datetime
    now: datetime
    schedule: str | None
    timezone: str
    state: list[str] = Field(description="Its state over the window: disabled, paused, ...")
    fires: list[FireAnswerOut]
    more_fires: int
    changes: list[ChangeOut] = Field(description="Changes of the definition within the window.")
    notes: list[str]


def _fire_out(f: FireAnswer) -> FireAnswerOut:
    hold = f.hold
    return FireAnswerOut(
        fire_at=f.fire_at,
        outcome=f.outcome.value,
        summary=f.summary,
        scheduled=f.scheduled,
        job=None if f.job is None else queue_job_out(f.job),
        hold=None
        if hold is None
        else FireHoldOut(
            policy=hold.policy, detail=hold.detail, until=hold.until, message=str(hold)
        ),
        missed=None if f.missed is None else missed_fire_out(f.missed),
    )


def explanation_out(e: Explanation) -> ExplanationOut:
    return ExplanationOut(
        job=e.task_name,
        at=e.at,
        start=e.start,
        end=e.end,
        now=e.now,
        schedule=e.schedule,
        timezone=e.timezone,
        state=list(e.state),
        fires=[_fire_out(f) for f in e.fires],
        more_fires=e.more_fires,
        changes=[
            ChangeOut(at=c.at, actor=c.actor, action=c.action, summary=c.summary) for c in e.changes
        ],
        notes=list(e.notes),
    )


# --- the load preview --------------------------------------------------------------------------
class PeakMinuteOut(Shape):
    at: datetime
    starts: int
    concurrency: int


class LongRunOut(Shape):
    job: str
    p95_seconds: float
    interval_seconds: float


class PileUpOut(Shape):
    at: datetime
    jobs: list[str]


class SpreadProposalOut(Shape):
    job: str
    interval_seconds: float
    offset_seconds: int


class LoadOut(Shape):
    start: datetime
    days: int
    schedules: int
    total_starts: int
    peak_starts: int
    peak_concurrency: int
    peaks: list[PeakMinuteOut] = Field(description="The minutes with the most starts.")
    long_runs: list[LongRunOut] = Field(description="Jobs whose p95 exceeds their interval.")
    pile_ups: list[PileUpOut] = Field(description="Schedules starting on the same second.")
    proposals: list[SpreadProposalOut] = Field(
        description="The spread offsets (a hash of the name) proposed for the piled-up jobs."
    )
    spread_peak_starts: int | None = Field(description="The peak with the offsets applied.")
    spread_peak_concurrency: int | None
    no_duration: list[str] = Field(description="Jobs without runs: counted at their start only.")
    skipped: list[str]
    seconds_taken: float
    starts: list[int] = Field(description="Starts per minute from start.")
    concurrency: list[int] = Field(description="Runs in progress per minute from start.")


def load_out(report: LoadReport, skipped: Sequence[str], seconds_taken: float) -> LoadOut:
    profile, spread = report.profile, report.spread_profile
    return LoadOut(
        start=report.start,
        days=report.days,
        schedules=report.schedules,
        total_starts=profile.total_starts,
        peak_starts=profile.peak_starts,
        peak_concurrency=profile.peak_concurrency,
        peaks=[
            PeakMinuteOut(at=p.at, starts=p.starts, concurrency=p.concurrency) for p in report.peaks
        ],
        long_runs=[
            LongRunOut(job=r.name, p95_seconds=r.p95_seconds, interval_seconds=r.interval_seconds)
            for r in report.long_runs
        ],
        pile_ups=[PileUpOut(at=p.at, jobs=list(p.names)) for p in report.pile_ups],
        proposals=[
            SpreadProposalOut(
                job=p.name, interval_seconds=p.interval_seconds, offset_seconds=p.offset_seconds
            )
            for p in report.proposals
        ],
        spread_peak_starts=None if spread is None else spread.peak_starts,
        spread_peak_concurrency=None if spread is None else spread.peak_concurrency,
        no_duration=list(report.no_duration),
        skipped=list(skipped),
        seconds_taken=round(seconds_taken, 3),
        starts=profile.starts,
        concurrency=profile.concurrency,
    )

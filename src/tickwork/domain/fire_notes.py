"""What a reader of a schedule's next fires may not expect: daylight-saving changes (a skipped
or repeated hour, a new UTC offset) and a calendar that moves a run to its next opening.

Pure: the fires come from ``domain.schedules``, the openings from ``domain.calendars``; the
notes are the words the CLI, the API and the dashboard show beside each fire.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from cronsim import CronSim

from tickwork.domain.schedules import CronSchedule, Schedule

__all__ = ["NotedFire", "dst_notes", "format_offset", "noted_fires"]

_SECOND = timedelta(seconds=1)


@dataclass(frozen=True)
class NotedFire:
    """One fire (in the schedule's zone), when its job would run (the fire, or the next
    opening of its calendar) and the notes that explain anything unexpected about it."""

    fire_at: datetime
    runs_at: datetime
    notes: tuple[str, ...]

    @property
    def moved(self) -> bool:
        return self.runs_at != self.fire_at

    @property
    def utc(self) -> datetime:
        return self.fire_at.astimezone(UTC)


def format_offset(delta: timedelta | None) -> str:
    """``UTC+01:00`` for one hour east of UTC."""
    minutes = int((delta or timedelta()).total_seconds()) // 60
    sign = "+" if minutes >= 0 else "-"
    return f"UTC{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


def dst_notes(schedule: Schedule, fire: datetime, previous: timedelta | None) -> list[str]:
    """The daylight-saving notes of ``fire`` (aware, in the schedule's zone): it falls where
    the clocks jump (and which skipped wall time it stands for), inside a repeated hour (first
    or second pass), or its UTC offset differs from ``previous`` (the one before it)."""
    notes: list[str] = []
    tz = fire.tzinfo
    assert tz is not None
    offset = fire.utcoffset()
    before = (fire.astimezone(UTC) - _SECOND).astimezone(tz)
    if before.utcoffset() != offset and offset is not None:
        old = before.utcoffset() or timedelta()
        if offset > old:  # spring forward: wall times between are skipped
            start = (fire.replace(tzinfo=None) - (offset - old)).strftime("%H:%M")
            skipped = _skipped_match(schedule, fire, offset - old)
            note = (
                f"clocks jump forward from {start} to {fire:%H:%M}"
                f" ({format_offset(old)} → {format_offset(offset)})"
            )
            if skipped is not None:
                note += f": {skipped:%H:%M} does not exist that day, so it fires at {fire:%H:%M}"
            notes.append(note)
        else:
            notes.append(
                f"clocks go back at {fire:%H:%M} ({format_offset(old)} → {format_offset(offset)})"
            )
    other = fire.replace(fold=1 - fire.fold)
    if other.utcoffset() != offset:  # the wall time is shown twice that day
        first = fire.fold == 0
        if isinstance(schedule, CronSchedule) and schedule.fixed_time:
            notes.append(
                f"{fire:%H:%M} occurs twice that day (clocks go back): it fires once,"
                f" on the first pass ({format_offset(offset)})"
            )
        else:
            notes.append(
                f"in the repeated hour (clocks go back): the {'first' if first else 'second'}"
                f" {fire:%H:%M} ({format_offset(offset)})"
            )
    if previous is not None and offset is not None and offset != previous and not notes:
        notes.append(
            f"clocks changed since the fire before: {format_offset(previous)} → "
            f"{format_offset(offset)}"
        )
    return notes


def _skipped_match(schedule: Schedule, fire: datetime, gap: timedelta) -> datetime | None:
    """The wall time in the skipped interval ending at ``fire`` that a fixed-time cron
    schedule matched (it fires at the jump instead); None when the fire matches its own wall
    time (e.g. ``0 3 * * *`` on the day clocks jump from 02:00 to 03:00)."""
    if not isinstance(schedule, CronSchedule) or not schedule.fixed_time:
        return None
    wall = fire.replace(tzinfo=None, fold=0)
    start = wall - gap
    match: datetime = next(iter(CronSim(schedule.cron, start - _SECOND)))
    return match if start <= match < wall else None


def noted_fires(
    schedule: Schedule,
    fires: Sequence[tuple[datetime, datetime]],
    previous: timedelta | None = None,
) -> list[NotedFire]:
    """Each fire (with when its job would run) with its notes; ``previous``: the UTC offset
    before the first fire (now's, in the schedule's zone), so a first fire after a clock
    change says so."""
    out: list[NotedFire] = []
    for fire_at, runs_at in fires:
        notes = dst_notes(schedule, fire_at, previous)
        if runs_at != fire_at:
            when = runs_at.strftime("%Y-%m-%d %H:%M %Z")
            notes.append(f"outside its calendar: moved to the next opening, {when}")
        previous = fire_at.utcoffset()
        out.append(NotedFire(fire_at, runs_at, tuple(notes)))
    return out

"""Failures grouped by error: the failed jobs of a range (final state failed or timeout) grouped
by the fingerprint of their last run's error (``domain/fingerprints.py``, the rule the error
rollups count by), minus the groups' acknowledged failures.

An acknowledgement is per fingerprint and time: a discarded (or retried) group's failures that
finished at or before ``acknowledged_until`` leave the list; a later failure of the same error
brings the group back with only the new ones.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime

from tickwork.domain.fingerprints import MESSAGE_LIMIT, ErrorFingerprint, fingerprint
from tickwork.domain.jobs import JobState

FAILED_STATES = (JobState.FAILED, JobState.TIMEOUT)
# The newest failed jobs of a range that are read and grouped; a report says when it hit this.
FAILURE_LIMIT = 5000
# Jobs of a group shown as samples (adapters show these; actions act on all of the group's).
SAMPLES = 5


@dataclass(frozen=True)
class FailedJob:
    """A failed job and its last run's error, as the store reads them."""

    job_id: int
    task_name: str
    state: JobState
    finished_at: datetime
    run_id: int | None  # None: it failed without a run (e.g. interrupted too often)
    error_type: str | None
    error_class: str | None
    message: str | None  # the run's error message, else the job's last error
    traceback: str | None


@dataclass(frozen=True)
class FailureRef:
    job_id: int
    run_id: int | None
    task_name: str
    finished_at: datetime


@dataclass(frozen=True)
class FailureGroup:
    fingerprint: str
    error_type: str | None
    error_class: str | None
    message: str  # normalised (numbers, IDs, quoted values replaced)
    sample_message: str | None  # the newest failure's message as it was
    frame: str | None  # "file:function" of the top stack frame
    first_seen: datetime
    last_seen: datetime
    tasks: tuple[tuple[str, int], ...]  # (task, failed jobs), most first
    jobs: tuple[FailureRef, ...]  # every failed job of the group read, newest first

    @property
    def count(self) -> int:
        return len(self.jobs)

    @property
    def samples(self) -> tuple[FailureRef, ...]:
        return self.jobs[:SAMPLES]


@dataclass(frozen=True)
class FailureReport:
    start: datetime
    end: datetime
    task_name: str | None
    groups: list[FailureGroup]  # newest last failure first
    read: int  # failed jobs read (acknowledged ones included)
    limit: int
    # More failed jobs finished in the range than ``limit``: only the newest were grouped.
    capped: bool


def fingerprinted(failed: Iterable[FailedJob]) -> list[tuple[FailedJob, ErrorFingerprint]]:
    """Each failed job with the fingerprint of its error."""
    return [(f, fingerprint(f.error_type, f.message, f.traceback)) for f in failed]


def group_failures(
    printed: Iterable[tuple[FailedJob, ErrorFingerprint]], acknowledged: Mapping[str, datetime]
) -> list[FailureGroup]:
    """The groups of fingerprinted failed jobs, leaving out each one that finished at or
    before its fingerprint's ``acknowledged`` time; newest last failure first."""
    found: dict[str, list[FailedJob]] = {}
    prints: dict[str, ErrorFingerprint] = {}
    for f, p in printed:
        until = acknowledged.get(p.fingerprint)
        if until is not None and f.finished_at <= until:
            continue
        found.setdefault(p.fingerprint, []).append(f)
        prints.setdefault(p.fingerprint, p)
    groups = [_group(prints[fp], jobs) for fp, jobs in found.items()]
    groups.sort(key=lambda g: (g.last_seen, g.fingerprint), reverse=True)
    return groups


def _group(print_: ErrorFingerprint, jobs: list[FailedJob]) -> FailureGroup:
    jobs.sort(key=lambda f: (f.finished_at, f.job_id), reverse=True)
    newest = jobs[0]
    per_task: dict[str, int] = {}
    for f in jobs:
        per_task[f.task_name] = per_task.get(f.task_name, 0) + 1
    return FailureGroup(
        fingerprint=print_.fingerprint,
        error_type=newest.error_type,
        error_class=newest.error_class,
        message=print_.message,
        sample_message=None if newest.message is None else newest.message[:MESSAGE_LIMIT],
        frame=print_.frame,
        first_seen=jobs[-1].finished_at,
        last_seen=newest.finished_at,
        tasks=tuple(sorted(per_task.items(), key=lambda t: (-t[1], t[0]))),
        jobs=tuple(FailureRef(f.job_id, f.run_id, f.task_name, f.finished_at) for f in jobs),
    )

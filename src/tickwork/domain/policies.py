"""Decisions the engine takes after an attempt: retry or give up, and when."""

from __future__ import annotations

from datetime import datetime, timedelta

from tickwork.domain.jobs import NON_RETRYABLE, JobState, Outcome, RunStatus
from tickwork.domain.tasks import RetryPolicy


def next_state_after(
    outcome: Outcome,
    attempt: int,
    max_attempts: int,
    retry: RetryPolicy,
    now: datetime,
    rand: float,
) -> tuple[JobState, datetime | None]:
    """The job's state after attempt number ``attempt`` ended with ``outcome``.

    Returns the state and, when retrying, the time of the next attempt. ``rand`` (0..1) feeds the
    backoff jitter so that callers decide where randomness comes from.
    """
    if outcome.status is RunStatus.SUCCEEDED:
        return JobState.SUCCEEDED, None
    if outcome.status is RunStatus.CANCELLED:
        return JobState.CANCELLED, None
    if outcome.status is RunStatus.INTERRUPTED:
        return JobState.AVAILABLE, now
    retryable = outcome.error_class not in NON_RETRYABLE
    if retryable and attempt < max_attempts:
        delay = retry.delay_seconds(attempt, rand)
        return JobState.RETRYING, now + timedelta(seconds=delay)
    return (JobState.TIMEOUT if outcome.status is RunStatus.TIMEOUT else JobState.FAILED), None

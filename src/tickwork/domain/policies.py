"""Decisions the engine takes after an attempt: retry or give up, and when."""

from __future__ import annotations

import email.utils
import math
from datetime import UTC, datetime, timedelta

from tickwork.domain.jobs import RETRYABLE, JobState, Outcome, RunStatus
from tickwork.domain.tasks import RetryPolicy

# A task or a server asking to wait longer than this gets this: a job must not vanish for days
# because of one header.
MAX_RETRY_AFTER_SECONDS = 3600.0


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

    A failure is retried while attempts remain if its class is in ``RETRYABLE`` (timeout,
    network, rate_limit, server_error) or the task raised ``tickwork.Retry``
    (``outcome.force_retry``); auth, validation, config and unknown failures end at once. The
    wait is ``outcome.retry_after_seconds`` when set (capped at ``MAX_RETRY_AFTER_SECONDS``),
    otherwise the backoff delay.
    """
    if outcome.status is RunStatus.SUCCEEDED:
        return JobState.SUCCEEDED, None
    if outcome.status is RunStatus.CANCELLED:
        return JobState.CANCELLED, None
    if outcome.status is RunStatus.INTERRUPTED:
        return JobState.AVAILABLE, now
    retryable = (
        outcome.force_retry
        or outcome.status is RunStatus.TIMEOUT
        or outcome.error_class in RETRYABLE
    )
    if retryable and attempt < max_attempts:
        delay = retry_delay_seconds(outcome, attempt, retry, rand)
        return JobState.RETRYING, now + timedelta(seconds=delay)
    return (JobState.TIMEOUT if outcome.status is RunStatus.TIMEOUT else JobState.FAILED), None


def retry_delay_seconds(outcome: Outcome, attempt: int, retry: RetryPolicy, rand: float) -> float:
    """How long to wait before the attempt after ``attempt``: the asked wait, else the backoff."""
    asked = outcome.retry_after_seconds
    if asked is not None and not math.isnan(asked):
        return min(max(asked, 0.0), MAX_RETRY_AFTER_SECONDS)
    return retry.delay_seconds(attempt, rand)


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    """Seconds to wait from an HTTP ``Retry-After`` value (delta-seconds or an HTTP-date).

    None when absent or unreadable; a date in the past gives 0. Not capped here: the cap is a
    retry decision (``next_state_after``).
    """
    if value is None:
        return None
    text = value.strip()
    if not text:
        return None
    try:
        seconds = float(text)
    except ValueError:
        pass
    else:
        return max(seconds, 0.0) if math.isfinite(seconds) else None
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:  # "-0000": RFC 5322 for "UTC, origin unknown"
        when = when.replace(tzinfo=UTC)
    return max((when - now).total_seconds(), 0.0)

"""Decisions the engine takes after an attempt: retry or give up, and when."""

from __future__ import annotations

import email.utils
import math
from datetime import UTC, datetime, timedelta

from tickwork.domain.jobs import NON_RETRYABLE, ErrorClass, JobState, Outcome, RunStatus
from tickwork.domain.tasks import RetryPolicy

# A task or a server asking to wait longer than this gets this: a job must not vanish for days
# because of one header.
MAX_RETRY_AFTER_SECONDS = 3600.0
# The qualified name of ``tickwork.Fail``: a task saying "do not try again" is final.
FAIL_TYPE = "tickwork.errors.Fail"
# HTTP statuses whose Retry-After header says when to try again (RFC 9110, section 10.2.3).
RETRY_AFTER_STATUSES = frozenset({429, 503})


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

    A failure is retried while attempts remain if ``is_retryable`` says so. The wait is
    ``outcome.retry_after_seconds`` when set (capped at ``MAX_RETRY_AFTER_SECONDS``), otherwise
    the backoff delay.
    """
    if outcome.status is RunStatus.SUCCEEDED:
        return JobState.SUCCEEDED, None
    if outcome.status is RunStatus.CANCELLED:
        return JobState.CANCELLED, None
    if outcome.status is RunStatus.INTERRUPTED:
        return JobState.AVAILABLE, now
    if attempt < max_attempts and is_retryable(outcome, retry):
        delay = retry_delay_seconds(outcome, attempt, retry, rand)
        return JobState.RETRYING, now + timedelta(seconds=delay)
    return (JobState.TIMEOUT if outcome.status is RunStatus.TIMEOUT else JobState.FAILED), None


def is_retryable(outcome: Outcome, retry: RetryPolicy) -> bool:
    """Whether a failed or timed-out attempt may be tried again (attempts left aside).

    In this order: ``tickwork.Retry`` always may and ``tickwork.Fail`` never does; a failure
    named by ``retry.no_retry_on`` does not; when ``retry.retry_on`` is given, exactly the
    failures it names do (even of a class that is otherwise final); otherwise every failure
    does except the non-recoverable classes (``NON_RETRYABLE``: auth, validation, config).

    A name matches the error class (``network``), the error type (``ExitCode``, ``Timeout``)
    or the exception's class or any of its bases, plain or module-qualified.
    """
    if outcome.force_retry:
        return True
    if FAIL_TYPE in outcome.error_types:
        return False
    if retry.no_retry_on and _names(outcome, retry.no_retry_on):
        return False
    if retry.retry_on:
        return _names(outcome, retry.retry_on)
    return (outcome.error_class or ErrorClass.UNKNOWN) not in NON_RETRYABLE


def _names(outcome: Outcome, names: tuple[str, ...]) -> bool:
    error_class = outcome.error_class.value if outcome.error_class is not None else None
    return any(
        name == error_class or name == outcome.error_type or name in outcome.error_types
        for name in names
    )


def interrupted_state(interruptions: int, max_interruptions: int) -> JobState:
    """Where a job goes when its attempt was interrupted (its worker died, its lease expired,
    an operator reset it, or its worker stopped) for the ``interruptions``-th time: back to
    the queue without spending an attempt (a crash is not the job's failure), or ``failed``
    once it was interrupted more than ``max_interruptions`` times, so that a job that kills
    its worker every time cannot loop forever."""
    return JobState.AVAILABLE if interruptions <= max_interruptions else JobState.FAILED


def interrupted_failure_reason(interruptions: int, max_interruptions: int, reason: str) -> str:
    """The ``last_error`` of a job failed by ``interrupted_state``."""
    return (
        f"interrupted {interruptions} times, more than max_interruptions={max_interruptions}"
        f" allows; last: {reason}"
    )


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


def status_error_class(status: int) -> ErrorClass:
    """The error class of an HTTP error status (HTTP tasks, alert deliveries)."""
    if status == 429:
        return ErrorClass.RATE_LIMIT
    if status == 408:  # Request Timeout: the server gave up waiting; a new try may do
        return ErrorClass.TIMEOUT
    if status in (401, 403):
        return ErrorClass.AUTH
    if 500 <= status < 600:
        return ErrorClass.SERVER_ERROR
    if 400 <= status < 500:
        return ErrorClass.VALIDATION
    return ErrorClass.UNKNOWN

"""Backoff and the state a job takes after an attempt."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tickwork.domain.jobs import (
    NON_RETRYABLE,
    RETRYABLE,
    ErrorClass,
    JobState,
    Outcome,
    RunStatus,
)
from tickwork.domain.policies import (
    MAX_RETRY_AFTER_SECONDS,
    interrupted_failure_reason,
    interrupted_state,
    is_retryable,
    next_state_after,
    parse_retry_after,
)
from tickwork.domain.tasks import RetryPolicy
from tickwork.errors import ConfigError

NOW = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)


def test_exponential_backoff_is_capped() -> None:
    policy = RetryPolicy(max_retries=10, base_seconds=1, factor=2, cap_seconds=60, jitter=False)
    assert [policy.delay_seconds(n) for n in range(1, 9)] == [1, 2, 4, 8, 16, 32, 60, 60]


def test_full_jitter_scales_by_the_random_draw() -> None:
    policy = RetryPolicy(max_retries=3, base_seconds=2, factor=3, cap_seconds=100, jitter=True)
    assert policy.delay_seconds(3, rand=0.5) == pytest.approx(9.0)
    assert policy.delay_seconds(3, rand=0.0) == 0.0


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"max_retries": -1}, "max_retries"),
        ({"factor": 0.5}, "backoff_factor"),
        ({"base_seconds": -1}, "backoff"),
    ],
)
def test_invalid_retry_policy(kwargs: dict[str, float], field: str) -> None:
    with pytest.raises(ConfigError) as info:
        RetryPolicy(**kwargs)  # type: ignore[arg-type]
    assert info.value.field == field


def test_failure_retries_until_attempts_run_out() -> None:
    policy = RetryPolicy(max_retries=2, base_seconds=1, factor=2, jitter=False)
    failure = Outcome.failure("ConnectionError", "x", error_class=ErrorClass.NETWORK)
    assert next_state_after(failure, 1, 3, policy, NOW, 1.0) == (
        JobState.RETRYING,
        NOW + timedelta(seconds=1),
    )
    assert next_state_after(failure, 2, 3, policy, NOW, 1.0) == (
        JobState.RETRYING,
        NOW + timedelta(seconds=2),
    )
    assert next_state_after(failure, 3, 3, policy, NOW, 1.0) == (JobState.FAILED, None)


def test_timeout_ends_as_timeout_and_config_errors_do_not_retry() -> None:
    policy = RetryPolicy(max_retries=5)
    assert next_state_after(Outcome.timed_out(1), 6, 6, policy, NOW, 1.0) == (
        JobState.TIMEOUT,
        None,
    )
    config = Outcome.failure("ConfigError", "cannot import", error_class=ErrorClass.CONFIG)
    assert next_state_after(config, 1, 6, policy, NOW, 1.0) == (JobState.FAILED, None)


def test_success_and_interruption() -> None:
    policy = RetryPolicy()
    assert next_state_after(Outcome.success(1), 1, 1, policy, NOW, 1.0) == (
        JobState.SUCCEEDED,
        None,
    )
    interrupted = Outcome(RunStatus.INTERRUPTED)
    assert next_state_after(interrupted, 1, 1, policy, NOW, 1.0) == (JobState.AVAILABLE, NOW)


@pytest.mark.parametrize(
    ("error_class", "retried"),
    [
        (ErrorClass.TIMEOUT, True),
        (ErrorClass.NETWORK, True),
        (ErrorClass.RATE_LIMIT, True),
        (ErrorClass.SERVER_ERROR, True),
        (ErrorClass.AUTH, False),
        (ErrorClass.VALIDATION, False),
        (ErrorClass.CONFIG, False),
        (ErrorClass.UNKNOWN, True),  # ordinary exceptions and non-zero exits
        (None, True),
    ],
)
def test_all_but_non_recoverable_error_classes_are_retried(
    error_class: ErrorClass | None, retried: bool
) -> None:
    policy = RetryPolicy(max_retries=3, base_seconds=2, jitter=False)
    outcome = Outcome(RunStatus.FAILED, error_type="E", error_class=error_class)
    expected = (
        (JobState.RETRYING, NOW + timedelta(seconds=2)) if retried else (JobState.FAILED, None)
    )
    assert next_state_after(outcome, 1, 4, policy, NOW, 1.0) == expected
    assert ((error_class or ErrorClass.UNKNOWN) in RETRYABLE) is retried
    assert ((error_class or ErrorClass.UNKNOWN) in NON_RETRYABLE) is (not retried)


def test_a_timeout_is_retried_and_ends_as_timeout() -> None:
    policy = RetryPolicy(max_retries=1, base_seconds=3, jitter=False)
    timed_out = Outcome.timed_out(5)
    assert next_state_after(timed_out, 1, 2, policy, NOW, 1.0) == (
        JobState.RETRYING,
        NOW + timedelta(seconds=3),
    )
    assert next_state_after(timed_out, 2, 2, policy, NOW, 1.0) == (JobState.TIMEOUT, None)


def test_retry_raised_by_the_task_is_retried_whatever_its_class() -> None:
    policy = RetryPolicy(max_retries=2, base_seconds=1, factor=2, jitter=False)
    retry = Outcome.failure("Retry", "busy", error_class=ErrorClass.UNKNOWN, force_retry=True)
    assert next_state_after(retry, 1, 3, policy, NOW, 1.0) == (
        JobState.RETRYING,
        NOW + timedelta(seconds=1),
    )
    # Only while attempts remain.
    assert next_state_after(retry, 3, 3, policy, NOW, 1.0) == (JobState.FAILED, None)


def test_retry_after_replaces_the_backoff() -> None:
    policy = RetryPolicy(max_retries=2, base_seconds=1, factor=2, jitter=True)
    retry = Outcome.failure(
        "Retry", "later", force_retry=True, retry_after_seconds=timedelta(minutes=2).total_seconds()
    )
    assert next_state_after(retry, 1, 3, policy, NOW, 0.3) == (
        JobState.RETRYING,
        NOW + timedelta(minutes=2),
    )
    immediately = Outcome.failure("Retry", "now", force_retry=True, retry_after_seconds=0)
    assert next_state_after(immediately, 1, 3, policy, NOW, 0.3) == (JobState.RETRYING, NOW)
    # A server's Retry-After on a retryable class counts too; on a final attempt it changes nothing.
    limited = Outcome.failure(
        "HTTPStatus", "429", error_class=ErrorClass.RATE_LIMIT, retry_after_seconds=7
    )
    assert next_state_after(limited, 1, 3, policy, NOW, 0.3) == (
        JobState.RETRYING,
        NOW + timedelta(seconds=7),
    )
    assert next_state_after(limited, 3, 3, policy, NOW, 0.3) == (JobState.FAILED, None)
    # ...but does not make a non-retryable failure retryable.
    auth = Outcome.failure("HTTPStatus", "401", error_class=ErrorClass.AUTH, retry_after_seconds=7)
    assert next_state_after(auth, 1, 3, policy, NOW, 0.3) == (JobState.FAILED, None)


@pytest.mark.parametrize("asked", [3601.0, 86400.0 * 30, float("inf")])
def test_retry_after_is_capped_at_an_hour(asked: float) -> None:
    retry = Outcome.failure("Retry", "much later", force_retry=True, retry_after_seconds=asked)
    assert MAX_RETRY_AFTER_SECONDS == 3600
    assert next_state_after(retry, 1, 2, RetryPolicy(max_retries=1), NOW, 1.0) == (
        JobState.RETRYING,
        NOW + timedelta(hours=1),
    )


def test_fail_is_never_retried() -> None:
    fail = Outcome.failure("Fail", "bad row", error_class=ErrorClass.VALIDATION)
    assert next_state_after(fail, 1, 5, RetryPolicy(max_retries=4), NOW, 1.0) == (
        JobState.FAILED,
        None,
    )


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("120", 120.0),
        (" 7 ", 7.0),
        ("0", 0.0),
        ("-5", 0.0),
        ("Fri, 01 May 2026 12:01:30 GMT", 90.0),
        ("Friday, 01-May-26 12:00:10 GMT", 10.0),  # RFC 850, still accepted by RFC 9110
        ("Fri, 01 May 2026 11:00:00 GMT", 0.0),  # in the past: at once
        (None, None),
        ("", None),
        ("soon", None),
        ("nan", None),
    ],
)
def test_parse_retry_after(value: str | None, seconds: float | None) -> None:
    assert parse_retry_after(value, NOW) == seconds


def raised(exc: BaseException) -> Outcome:
    """The outcome of a task that raised ``exc`` (the executor's own classification)."""
    from tickwork.runtime.executors.python import outcome_for_exception

    return outcome_for_exception(exc)


class Busy(ConnectionRefusedError):
    """A task's own error, two levels below ConnectionError."""


@pytest.mark.parametrize(
    ("outcome", "retry_on", "no_retry_on", "retried"),
    [
        (raised(RuntimeError("x")), (), (), True),  # ordinary exceptions retry
        (raised(ValueError("x")), (), ("ValueError",), False),
        (raised(UnicodeDecodeError("utf-8", b"", 0, 1, "x")), (), ("ValueError",), False),
        (raised(ValueError("x")), (), ("builtins.ValueError",), False),
        (raised(ValueError("x")), (), ("KeyError",), True),
        (raised(Busy()), (), ("ConnectionError",), False),  # a base class covers subclasses
        (raised(Busy()), (), ("network",), False),  # an error class name
        (raised(Busy()), (f"{__name__}.Busy",), (), True),
        (raised(RuntimeError("x")), ("ConnectionError",), (), False),  # not named: final
        (raised(PermissionError("x")), (), (), False),  # auth: final by nature...
        (raised(PermissionError("x")), ("PermissionError",), (), True),  # ...unless named
        (raised(PermissionError("x")), ("auth",), ("PermissionError",), False),  # no wins
        (Outcome.timed_out(3), ("Timeout",), (), True),
        (Outcome.timed_out(3), (), ("timeout",), False),
        (Outcome.failure("ExitCode", "exit 1"), (), (), True),  # non-zero exits retry
        (Outcome.failure("ExitCode", "exit 1"), (), ("ExitCode",), False),
        (Outcome.failure("HTTPStatus", "404", error_class=ErrorClass.VALIDATION), (), (), False),
    ],
)
def test_is_retryable_follows_classes_then_the_tasks_names(
    outcome: Outcome, retry_on: tuple[str, ...], no_retry_on: tuple[str, ...], retried: bool
) -> None:
    policy = RetryPolicy(max_retries=1, retry_on=retry_on, no_retry_on=no_retry_on)
    assert is_retryable(outcome, policy) is retried


def test_fail_is_final_and_retry_always_retries_whatever_the_task_names() -> None:
    import tickwork

    everything = RetryPolicy(max_retries=5, retry_on=("Fail", "validation", "Exception"))
    assert not is_retryable(raised(tickwork.Fail("no")), everything)
    nothing = RetryPolicy(max_retries=5, no_retry_on=("Retry", "Exception"), retry_on=("x",))
    assert is_retryable(raised(tickwork.Retry("later")), nothing)


@pytest.mark.parametrize("entry", ["", "not a name", "a..b", 3, "x-y"])
def test_retry_names_are_checked(entry: object) -> None:
    with pytest.raises(ConfigError, match="retry_on"):
        RetryPolicy(retry_on=(entry,))  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="max_interruptions"):
        RetryPolicy(max_interruptions=-1)


def test_interruptions_go_back_to_the_queue_up_to_the_limit() -> None:
    assert [interrupted_state(n, 3) for n in (1, 2, 3, 4)] == [
        JobState.AVAILABLE,
        JobState.AVAILABLE,
        JobState.AVAILABLE,
        JobState.FAILED,
    ]
    assert interrupted_state(1, 0) is JobState.FAILED
    assert interrupted_failure_reason(4, 3, "lease expired") == (
        "interrupted 4 times, more than max_interruptions=3 allows; last: lease expired"
    )

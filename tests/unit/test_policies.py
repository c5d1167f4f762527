"""Backoff and the state a job takes after an attempt."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tickwork.domain.jobs import ErrorClass, JobState, Outcome, RunStatus
from tickwork.domain.policies import next_state_after
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
    failure = Outcome.failure("ValueError", "x")
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

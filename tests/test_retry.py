"""The retry policy is pure maths: a fake clock and fixed random numbers, no threads."""

from __future__ import annotations

import dataclasses
import random

import pytest

from rollbar_notifier.retry import RetryPolicy


def test_first_retry_is_within_one_second_and_delays_are_capped() -> None:
    policy = RetryPolicy()
    top = [policy.backoff(attempt, lambda: 1.0) for attempt in range(1, 10)]
    assert top == [1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0, 30.0, 30.0]
    assert policy.backoff(1000, lambda: 1.0) == 30.0


def test_full_jitter_spans_zero_to_the_bound() -> None:
    policy = RetryPolicy()
    assert policy.backoff(5, lambda: 0.0) == 0.0
    rng = random.Random(7)
    delays = [policy.backoff(3, rng.random) for _ in range(1000)]
    assert all(0.0 <= d <= 4.0 for d in delays)
    assert min(delays) < 0.5 and max(delays) > 3.5


def test_window_ends_retries_and_clips_the_last_delay() -> None:
    policy = RetryPolicy(retry_for=10.0)
    assert policy.next_delay(1, 0.0, lambda: 1.0) == 1.0
    assert policy.next_delay(6, 8.5, lambda: 1.0) == pytest.approx(1.5)
    assert policy.next_delay(1, 10.0, lambda: 1.0) is None
    assert policy.next_delay(1, 11.0, lambda: 0.0) is None


def test_a_simulated_outage_retries_for_the_window_only() -> None:
    policy = RetryPolicy(retry_for=300.0)
    now, attempts = 0.0, 1
    rng = random.Random(3)
    while attempts < 10_000:
        delay = policy.next_delay(attempts, now, rng.random)
        if delay is None:
            break
        now += delay
        attempts += 1
    assert now == pytest.approx(300.0)
    assert 10 <= attempts < 100


def test_policy_is_an_immutable_value() -> None:
    policy = RetryPolicy()
    with pytest.raises(dataclasses.FrozenInstanceError):
        policy.retry_for = 1.0  # type: ignore[misc]
    short = policy.for_blocking(5.0)
    assert short.retry_for == 5.0 and policy.retry_for == 300.0
    assert policy.for_blocking(1000.0) == policy

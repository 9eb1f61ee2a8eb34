"""The decision after one attempt, as a table of plain values: no clock, no thread, no I/O."""

from __future__ import annotations

import pytest

from rollbar_notifier.decision import Action, Decision, Outcome, OutcomeKind, decide
from rollbar_notifier.retry import RetryPolicy

POLICY = RetryPolicy(retry_for=60.0, first=1.0, cap=8.0)


def half() -> float:
    return 0.5


def after(outcome: Outcome, failures: int = 0, elapsed: float = 0.0,
          can_shrink: bool = True) -> Decision:
    return decide(outcome, failures=failures, elapsed=elapsed, policy=POLICY,
                  can_shrink=can_shrink, rand=half)


def test_delivered_and_refused_items_are_done() -> None:
    assert after(Outcome(OutcomeKind.DELIVERED, "http_200")) == Decision(Action.DELIVERED)
    assert after(Outcome(OutcomeKind.DROP, "http_403")) == Decision(Action.DROP)


def test_a_413_shrinks_once_then_counts_as_refused() -> None:
    too_large = Outcome(OutcomeKind.TOO_LARGE, "http_413")
    assert after(too_large).action is Action.SHRINK
    assert after(too_large, can_shrink=False).action is Action.DROP


@pytest.mark.parametrize(("failures", "delay"), [(0, 0.5), (1, 1.0), (2, 2.0), (3, 4.0),
                                                 (4, 4.0), (10, 4.0)])
def test_retries_back_off_with_jitter_below_the_cap(failures: int, delay: float) -> None:
    decision = after(Outcome(OutcomeKind.RETRY, "http_503"), failures=failures, elapsed=1.0)
    assert decision == Decision(Action.RETRY, delay=delay)


def test_the_last_retry_is_cut_to_the_end_of_the_window_then_given_up() -> None:
    failed = Outcome(OutcomeKind.RETRY, "network")
    assert after(failed, failures=5, elapsed=59.0) == Decision(Action.RETRY, delay=1.0)
    assert after(failed, failures=6, elapsed=60.0) == Decision(Action.GIVE_UP)


def test_a_429_pauses_every_sender_and_still_ends_the_window() -> None:
    limited = Outcome(OutcomeKind.RETRY, "rate_limited", retry_after=30.0)
    assert after(limited, elapsed=10.0) == Decision(Action.RETRY, pause=30.0)
    assert after(limited, elapsed=60.0) == Decision(Action.GIVE_UP, pause=30.0)

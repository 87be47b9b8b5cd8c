"""The retry budget: retries stay a share of recent requests, a quiet process may still retry a little."""

from __future__ import annotations

from shared.retry_budget import RetryBudget


class _Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_in_an_outage_retries_stay_within_the_ratio_of_requests() -> None:
    clock = _Clock()
    budget = RetryBudget(ratio=0.1, minimum=3, window_seconds=10, clock=clock)
    retried = 0
    for i in range(1000):  # 100 requests a second for 10 s, every one asking for a retry
        clock.now = 1000 + i / 100
        budget.request()
        retried += budget.try_retry()

    assert 95 <= retried <= 103


def test_a_quiet_process_may_retry_up_to_the_minimum() -> None:
    budget = RetryBudget(ratio=0.1, minimum=3, window_seconds=10, clock=_Clock())
    budget.request()

    assert [budget.try_retry() for _ in range(4)] == [True, True, True, False]


def test_retries_come_back_once_the_window_has_passed() -> None:
    clock = _Clock()
    budget = RetryBudget(ratio=0.1, minimum=1, window_seconds=10, clock=clock)
    budget.request()
    assert budget.try_retry()
    assert not budget.try_retry()

    clock.now += 10.5

    assert budget.try_retry()

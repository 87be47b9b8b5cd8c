"""The Redis circuit breaker's rules, on a clock the test moves."""

from __future__ import annotations

import pytest

from shared.redis_breaker import BreakerState, CircuitBreaker, RedisUnavailable


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def breaker(clock: Clock) -> CircuitBreaker:
    return CircuitBreaker(3, 0.25, window=10.0, clock=clock)


def _fail(breaker: CircuitBreaker, times: int) -> None:
    for _ in range(times):
        breaker.failed(breaker.admit())


def test_failures_spread_wider_than_the_window_never_open_it(breaker: CircuitBreaker, clock: Clock) -> None:
    for _ in range(5):
        _fail(breaker, 2)
        clock.now += 11
    assert breaker.state is BreakerState.CLOSED


def test_an_answer_between_failures_starts_the_count_again(breaker: CircuitBreaker) -> None:
    _fail(breaker, 2)
    breaker.succeeded(breaker.admit())
    _fail(breaker, 2)
    assert breaker.state is BreakerState.CLOSED
    _fail(breaker, 1)
    assert breaker.state is BreakerState.OPEN


def test_an_open_breaker_refuses_until_the_probe_interval_then_admits_one_probe(
    breaker: CircuitBreaker, clock: Clock
) -> None:
    changes: list[BreakerState] = []
    breaker.on_change = changes.append
    _fail(breaker, 3)
    with pytest.raises(RedisUnavailable):
        breaker.admit()
    clock.now += 0.25
    assert breaker.admit() is True
    with pytest.raises(RedisUnavailable):
        breaker.admit()  # one probe at a time
    breaker.failed(True)
    with pytest.raises(RedisUnavailable):
        breaker.admit()  # the failed probe restarts the wait
    clock.now += 0.25
    breaker.succeeded(breaker.admit())

    assert breaker.state is BreakerState.CLOSED
    assert breaker.admit() is False
    assert breaker.rejected == 3
    assert changes == [
        BreakerState.OPEN,
        BreakerState.HALF_OPEN,
        BreakerState.OPEN,
        BreakerState.HALF_OPEN,
        BreakerState.CLOSED,
    ]


def test_a_cancelled_probe_hands_its_turn_to_the_next_call(breaker: CircuitBreaker, clock: Clock) -> None:
    _fail(breaker, 3)
    clock.now += 0.25
    breaker.abandoned(breaker.admit())
    assert breaker.admit() is True


def test_late_failures_of_calls_sent_before_it_opened_do_not_count_as_probes(
    breaker: CircuitBreaker, clock: Clock
) -> None:
    late = [breaker.admit() for _ in range(5)]  # all in flight when Redis stops
    for probe in late[:3]:
        breaker.failed(probe)
    clock.now += 0.25
    probe = breaker.admit()
    for other in late[3:]:
        breaker.failed(other)
    breaker.succeeded(probe)
    assert breaker.state is BreakerState.CLOSED

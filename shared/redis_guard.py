"""The deadline and circuit breaker a bounded Redis client runs every command under (`shared.redis`)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from shared.errors import KiroStackError
from shared.redis_breaker import CircuitBreaker

T = TypeVar("T")

#: what a lost or refused connection raises (the builtin TimeoutError of a deadline is handled first)
NETWORK_ERRORS = (RedisConnectionError, RedisTimeoutError, OSError)


class RedisDeadlineExceeded(RedisTimeoutError, KiroStackError):
    """A bounded command got no answer within its deadline (a redis `TimeoutError`, so a `RedisError`)."""


class Guard:
    """The deadline and breaker every command of one client runs under (both optional)."""

    def __init__(self, deadline: float | None = None, breaker: CircuitBreaker | None = None) -> None:
        self.deadline = deadline
        self.breaker = breaker

    async def run(self, what: str, call: Callable[[], Awaitable[T]]) -> T:
        """`call()` within the deadline, refused at once while the breaker is open; outcomes feed it."""
        breaker = self.breaker
        probe = breaker.admit() if breaker is not None else False
        try:
            async with asyncio.timeout(self.deadline):
                result = await call()
        except TimeoutError:  # the deadline (a redis TimeoutError is not a builtin one)
            if breaker is not None:
                breaker.failed(probe)
            raise RedisDeadlineExceeded(f"Redis {what} got no answer within {self.deadline}s") from None
        except NETWORK_ERRORS:
            if breaker is not None:
                breaker.failed(probe)
            raise
        except BaseException as exc:  # an answer (a script error…) or the caller's cancellation
            if breaker is not None:
                if isinstance(exc, Exception):
                    breaker.succeeded(probe)
                else:
                    breaker.abandoned(probe)
            raise
        if breaker is not None:
            breaker.succeeded(probe)
        return result

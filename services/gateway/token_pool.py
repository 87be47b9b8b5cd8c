"""Standalone mode with several refresh tokens (`KIRO_REFRESH_TOKENS`): weighted round robin, cooldowns.

Each request takes the next usable token by smooth weighted round robin (nginx's: every pick adds each
usable token's weight to its score and takes the highest, which then gives back the total), so weights
3:1 serve exactly 3 of every 4 requests from the first token, interleaved rather than in runs.

A token comes out of rotation when Kiro says it cannot serve: throttled (for Kiro's Retry-After, else
TOKEN_COOLDOWN_SECONDS), out of quota (until the reset), an access token rejected even after a refresh or
a transient refresh failure (TOKEN_COOLDOWN_SECONDS); a refresh token the auth endpoint rejects, or a
suspended account, is out until the gateway restarts. Logs name a token by a hash, never the token.
When every token is out, the caller gets UNAVAILABLE (a retryable 503/529) with the soonest return as
Retry-After, or INVALID_TOKEN when no token will ever come back.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass

from services.gateway.credentials import KiroCredentials, StandaloneAccount, TokenCache
from shared.client_errors import FAILURE_SHAPES
from shared.errors import AuthRefreshError, ConfigError, FailureKind, UpstreamError
from shared.logging import log_fields

logger = logging.getLogger(__name__)

#: `token:weight`: a weight is 1–1000 after the last colon; refresh tokens carry colons of their own
#: (`aorA…:MGUC…`) but never end in a colon and a short number
_WEIGHT = re.compile(r"^(?P<token>.+):(?P<weight>[0-9]{1,4})$")
MAX_WEIGHT = 1000
MIN_TOKEN_CHARS = 16


@dataclass(frozen=True, slots=True)
class WeightedToken:
    token: str
    weight: int


def parse_token_list(raw: str) -> list[WeightedToken]:
    """`KIRO_REFRESH_TOKENS`: tokens separated by commas or newlines, each `token` or `token:weight`.

    Blank entries and `#` comment lines are skipped; a token listed twice counts once (its first
    weight). Raises ConfigError naming the entry (by position, never its text) that cannot be a token.
    """
    found: dict[str, int] = {}
    entries = [part.strip() for line in raw.splitlines() for part in line.split(",")]
    for position, entry in enumerate((e for e in entries if e and not e.startswith("#")), start=1):
        token, weight = entry, 1
        match = _WEIGHT.match(entry)
        if match:
            token, weight = match["token"], int(match["weight"])
            if not 1 <= weight <= MAX_WEIGHT:
                raise ConfigError(f"KIRO_REFRESH_TOKENS entry {position}: weight must be 1-{MAX_WEIGHT}")
        if len(token) < MIN_TOKEN_CHARS or any(c.isspace() for c in token):
            raise ConfigError(f"KIRO_REFRESH_TOKENS entry {position} does not look like a refresh token")
        found.setdefault(token, weight)
    return [WeightedToken(token, weight) for token, weight in found.items()]


@dataclass(slots=True)
class _Entry:
    account: StandaloneAccount
    weight: int
    name: str  # what logs and metrics call it: a hash of the token
    score: int = 0
    cooling_until: float = 0.0
    dead: bool = False


class TokenPool:
    """The env accounts of a standalone gateway, served by weighted round robin with cooldowns."""

    def __init__(
        self,
        accounts: list[tuple[StandaloneAccount, int]],
        *,
        cooldown_seconds: float,
        on_set_aside: Callable[[str], None] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._entries = [_Entry(a, w, "standalone-" + a.cache_key[:12]) for a, w in accounts]
        self._by_key = {e.account.cache_key: e for e in self._entries}
        self._cooldown = cooldown_seconds
        self._on_set_aside = on_set_aside
        self._clock = clock

    def __len__(self) -> int:
        return len(self._entries)

    def pick(self) -> StandaloneAccount:
        """The next usable account; UpstreamError (UNAVAILABLE or INVALID_TOKEN) when none is."""
        now = self._clock()
        usable = [e for e in self._entries if not e.dead and e.cooling_until <= now]
        if not usable:
            raise self._none_usable(now)
        total = 0
        best = usable[0]
        for entry in usable:
            entry.score += entry.weight
            total += entry.weight
            if entry.score > best.score:
                best = entry
        best.score -= total
        return best.account

    async def credentials(self, cache: TokenCache, proxy_url: str | None = None) -> KiroCredentials:
        """Credentials of the next usable account; a token whose refresh fails is set aside for the next."""
        while True:
            account = self.pick()
            try:
                return await cache.credentials(account, proxy_url=proxy_url)
            except AuthRefreshError as exc:
                if not self.report(account, exc):
                    raise

    def report(self, account: StandaloneAccount, exc: UpstreamError) -> bool:
        """Take `account` out of rotation for what Kiro answered; False when it is not a pool account or
        the failure says nothing about the account (a transient error, the client's bad request)."""
        entry = self._by_key.get(account.cache_key)
        if entry is None:
            return False
        refresh = isinstance(exc, AuthRefreshError)
        if exc.kind is FailureKind.SUSPENDED or (refresh and exc.kind is FailureKind.INVALID_TOKEN):
            entry.dead = True
            self._count("dead")
            logger.error(
                "standalone token out of rotation until restart",
                extra=log_fields(token=entry.name, kind=exc.kind.value, error=exc.message),
            )
            return True
        seconds = self._cooldown_for(exc, refresh)
        if seconds is None:
            return False
        entry.cooling_until = self._clock() + seconds
        entry.score = 0
        self._count(exc.kind.value)
        logger.warning(
            "standalone token cooling down",
            extra=log_fields(token=entry.name, kind=exc.kind.value, seconds=round(seconds, 1)),
        )
        return True

    def _count(self, kind: str) -> None:
        if self._on_set_aside is not None:
            self._on_set_aside(kind)

    def _cooldown_for(self, exc: UpstreamError, refresh: bool) -> float | None:
        kind = exc.kind
        if kind is FailureKind.THROTTLED:
            return exc.retry_after if exc.retry_after and exc.retry_after > 0 else self._cooldown
        if kind is FailureKind.QUOTA_EXHAUSTED:
            now = self._clock()
            if exc.reset_at and exc.reset_at > now:
                return exc.reset_at - now
            return exc.retry_after or FAILURE_SHAPES[kind].default_retry_after or self._cooldown
        if kind is FailureKind.INVALID_TOKEN or (refresh and kind is FailureKind.UPSTREAM_ERROR):
            return self._cooldown
        return None

    def _none_usable(self, now: float) -> UpstreamError:
        cooling = [e.cooling_until for e in self._entries if not e.dead]
        if not cooling:
            return UpstreamError(
                FailureKind.INVALID_TOKEN,
                "every refresh token of this gateway was rejected (KIRO_REFRESH_TOKENS); "
                "restart it with new ones",
            )
        wait = max(1.0, min(cooling) - now)
        return UpstreamError(
            FailureKind.UNAVAILABLE,
            f"every Kiro account of this gateway is cooling down; try again in {wait:.0f}s",
            retry_after=wait,
        )

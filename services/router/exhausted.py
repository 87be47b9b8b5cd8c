"""The client's answer when every account tried failed before the first byte (failover exhausted).

Kiro's verdict was about an account of ours, never about the client: it gets a retryable answer in its own
shape that says when to come back, never the gateway's per-account answer (a rejected Kiro token must not
reach the client as a 401 that blames its own key).

- every account throttled → 429 `rate_limit_error` / `rate_limit_exceeded`;
- every account out of quota (or a mix of both) → 429, OpenAI `insufficient_quota` when all were quota;
- anything else (rejected token, suspension, transient Kiro errors, mixes) → 503 (OpenAI) or 529
  `overloaded_error` (Anthropic).

`Retry-After` is when the pool has an account again (the soonest cooldown or reset); SDKs are told to
retry (`x-should-retry`) only when that is within the time they would wait.
"""

from __future__ import annotations

import time
from collections import Counter

from services.router.context import AppContext
from services.router.errors import ClientError, unavailable_status
from services.router.exchange import Exchange
from shared.errors import FailureKind

SDK_MAX_RETRY_AFTER = 120.0  # clients ignore longer retry-after values

_RATE_LIMITED = frozenset({FailureKind.THROTTLED, FailureKind.QUOTA_EXHAUSTED})
_WORDS = {
    FailureKind.INVALID_TOKEN: "token rejected (refreshing)",
    FailureKind.QUOTA_EXHAUSTED: "out of quota",
    FailureKind.THROTTLED: "throttled",
    FailureKind.SUSPENDED: "suspended",
    FailureKind.UPSTREAM_ERROR: "Kiro error",
}


async def exhausted(ctx: AppContext, exchange: Exchange, kinds: list[FailureKind]) -> ClientError:
    """The retryable error for a request whose every account failed (`kinds`: one per account, in order)."""
    retry_after = await _pool_back_in(ctx)
    counts = Counter(kinds)
    tried = ", ".join(f"{n} {_WORDS.get(kind, kind.value)}" for kind, n in counts.items())
    until = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + retry_after))
    message = f"every Kiro account tried failed ({tried}); an account is usable again at {until}"
    should_retry = retry_after <= SDK_MAX_RETRY_AFTER
    if set(counts) <= _RATE_LIMITED:
        quota = set(counts) == {FailureKind.QUOTA_EXHAUSTED}
        status, kind, code = 429, "rate_limit_error", "insufficient_quota" if quota else "rate_limit_exceeded"
    else:
        status, kind = unavailable_status(exchange.protocol, retryable=True)
        code = "accounts_unavailable"
    ctx.metrics.requests.labels(exchange.route, str(status), exchange.model, "", exchange.key_label).inc()
    return ClientError(
        status, message, kind=kind, code=code, retry_after=retry_after, should_retry=should_retry
    )


async def _pool_back_in(ctx: AppContext) -> float:
    """Seconds until the pool has an account in rotation again (1 when one is in rotation now)."""
    lowest = await ctx.redis.zrange(ctx.keys.pool(), 0, 0, withscores=True)
    if not lowest:  # nothing left in the pool (all disabled, suspended or removed)
        return float(ctx.settings.no_account_retry_after_seconds)
    return max(1.0, float(lowest[0][1]) - time.time())

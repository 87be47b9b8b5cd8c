"""Runtime settings from the admin panel (the `keys.settings()` hash), cached for a few seconds.

Besides the gateway options and the failover attempts, the governor defaults (`max_concurrency`,
`min_interval_ms` for accounts without their own) are applied to the pool when the hash is read.
"""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable
from typing import cast

import orjson

from shared.accounts.pool import Pool
from shared.keys import Keys
from shared.redis_topology import StackRedis

#: fields of the settings hash forwarded to gateways in `X-Kiro-Options`
_OPTION_FIELDS = (
    "thinking_suffix",
    "openai_thinking_format",
    "claude_thinking_format",
    "default_model",
    "auto_continue",
    "endpoint_order",
    "endpoint_origins",
)


class RuntimeSettings:
    """Reads the settings hash at most once per `ttl` seconds; a change notice drops the cache."""

    def __init__(
        self,
        client: StackRedis,
        keys: Keys,
        ttl: float,
        default_failover_attempts: int,
        pool: Pool | None = None,
    ) -> None:
        self._client = client
        self._keys = keys
        self._ttl = ttl
        self._default_attempts = default_failover_attempts
        self._loaded_at = -1e9
        self.options_header = "{}"
        self.failover_attempts = default_failover_attempts
        # the governor defaults from the environment; the panel's values replace them while set
        self._pool = pool
        self._env_governor = (
            (pool.limits.max_concurrency, pool.limits.min_interval_ms) if pool is not None else (0, 0)
        )

    def invalidate(self) -> None:
        self._loaded_at = -1e9

    async def current(self) -> RuntimeSettings:
        """Self, refreshed from Redis when the cache is stale."""
        now = time.monotonic()
        if now - self._loaded_at >= self._ttl:
            self._apply(await cast(Awaitable[dict[str, str]], self._client.hgetall(self._keys.settings())))
            self._loaded_at = now
        return self

    def _apply(self, raw: dict[str, str]) -> None:
        options: dict[str, object] = {}
        for name in _OPTION_FIELDS:
            if raw.get(name) not in (None, ""):
                options[name] = _decode(raw[name])
        aliases = _decode(raw.get("model_aliases", "")) if raw.get("model_aliases") else None
        if isinstance(aliases, dict):
            options["model_aliases"] = aliases
        # header values must stay ASCII: escape anything else (a thinking suffix could hold any text)
        self.options_header = json.dumps(options, ensure_ascii=True, separators=(",", ":"))
        self.failover_attempts = _int(raw.get("failover_attempts"), self._default_attempts, 1, 16)
        if self._pool is not None:
            cap, interval = self._env_governor
            self._pool.set_governor_defaults(
                _int(raw.get("max_concurrency"), cap, 1, 1000),
                _int(raw.get("min_interval_ms"), interval, 0, 600_000),
            )


def _int(raw: str | None, default: int, low: int, high: int) -> int:
    try:
        return max(low, min(int(raw), high)) if raw else default
    except ValueError:
        return default


def _decode(value: str) -> object:
    """Values are stored as JSON by the admin API; a bare string is taken as is."""
    try:
        return orjson.loads(value)
    except orjson.JSONDecodeError:
        return value

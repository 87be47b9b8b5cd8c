"""Runtime settings from the admin panel (the `keys.settings()` hash), cached for a few seconds."""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable
from typing import cast

import orjson
from redis.asyncio import Redis

from shared.keys import Keys

#: fields of the settings hash forwarded to gateways in `X-Kiro-Options`
_OPTION_FIELDS = ("thinking_suffix", "openai_thinking_format", "default_model", "auto_continue")


class RuntimeSettings:
    """Reads the settings hash at most once per `ttl` seconds; a change notice drops the cache."""

    def __init__(self, client: Redis, keys: Keys, ttl: float, default_failover_attempts: int) -> None:
        self._client = client
        self._keys = keys
        self._ttl = ttl
        self._default_attempts = default_failover_attempts
        self._loaded_at = -1e9
        self.options_header = "{}"
        self.failover_attempts = default_failover_attempts

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
        try:
            attempts = int(raw.get("failover_attempts") or self._default_attempts)
        except ValueError:
            attempts = self._default_attempts
        self.failover_attempts = max(1, min(attempts, 16))


def _decode(value: str) -> object:
    """Values are stored as JSON by the admin API; a bare string is taken as is."""
    try:
        return orjson.loads(value)
    except orjson.JSONDecodeError:
        return value

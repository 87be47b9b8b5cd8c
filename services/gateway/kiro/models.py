"""The models Kiro offers: ListAvailableModels cached for a TTL, with a built-in list as fallback."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp

from services.gateway.credentials import KiroCredentials
from services.gateway.translate import KNOWN_MODELS, ModelResolver
from shared.errors import UpstreamError
from shared.tasks import start_logged

logger = logging.getLogger(__name__)

#: the date shown as `created_at` / `created` for every model (Kiro does not say)
MODELS_CREATED = 1758931200  # 2025-09-27T00:00:00Z


@dataclass(frozen=True, slots=True)
class ModelInfo:
    id: str
    display_name: str
    context_window: int | None = None


def _info(raw: object) -> ModelInfo | None:
    """One entry of ListAvailableModels; None for an entry that names no model (skipped, not fatal)."""
    if not isinstance(raw, Mapping) or not isinstance(raw.get("modelId"), str) or not raw["modelId"]:
        return None
    limits = raw.get("tokenLimits")
    window = limits.get("maxInputTokens") if isinstance(limits, dict) else None
    return ModelInfo(
        id=str(raw["modelId"]),
        display_name=str(raw.get("modelName") or raw["modelId"]),
        context_window=int(window) if isinstance(window, int) and window > 0 else None,
    )


FALLBACK = tuple(ModelInfo(model, model) for model in KNOWN_MODELS)

Fetch = Callable[[KiroCredentials], Any]  # async (creds) -> list of raw model dicts


class ModelCatalog:
    """Model list shared by every request of the process; refreshed in the background when stale."""

    def __init__(self, fetch: Fetch, *, ttl: float, default_window: int, retry_after: float = 60.0) -> None:
        self._fetch = fetch
        self._ttl = ttl
        self._retry_after = retry_after
        self._attempted_at = float("-inf")
        self._default_window = default_window
        self._models: tuple[ModelInfo, ...] = FALLBACK
        self._fetched_at = 0.0
        self._refreshing: asyncio.Task[None] | None = None
        self._resolvers: dict[tuple[object, ...], ModelResolver] = {}
        self._by_id: dict[str, ModelInfo] = {m.id: m for m in FALLBACK}

    @property
    def models(self) -> tuple[ModelInfo, ...]:
        return self._models

    @property
    def fresh(self) -> bool:
        return bool(self._fetched_at) and time.monotonic() - self._fetched_at < self._ttl

    def get(self, model_id: str) -> ModelInfo | None:
        return self._by_id.get(model_id)

    def context_window(self, model_id: str) -> int:
        info = self._by_id.get(model_id)
        return info.context_window if info and info.context_window else self._default_window

    def resolver(self, aliases: Mapping[str, str], default_model: str, thinking_suffix: str) -> ModelResolver:
        """A resolver for the current list and options, built once per distinct combination."""
        key = (self._fetched_at, tuple(sorted(aliases.items())), default_model, thinking_suffix)
        resolver = self._resolvers.get(key)
        if resolver is None:
            if len(self._resolvers) > 64:
                self._resolvers.clear()
            resolver = ModelResolver([m.id for m in self._models], aliases, default_model, thinking_suffix)
            self._resolvers[key] = resolver
        return resolver

    def refresh_in_background(self, creds: KiroCredentials) -> None:
        """Start one refresh with these credentials when the list is stale (never blocks a request).

        After a failed attempt the next one waits `retry_after` seconds, so an outage of the model list
        never turns into one extra Kiro call per chat request.
        """
        if self.fresh or (self._refreshing is not None and not self._refreshing.done()):
            return
        now = time.monotonic()
        if now - self._attempted_at < self._retry_after:
            return
        self._attempted_at = now
        self._refreshing = start_logged("model list refresh", self.refresh(creds))

    async def refresh(self, creds: KiroCredentials) -> None:
        """Ask Kiro now; on failure keep what we have (and retry on a later request)."""
        try:
            raw = await self._fetch(creds)
        except (UpstreamError, aiohttp.ClientError, OSError, TimeoutError, ValueError) as exc:
            logger.warning(
                "ListAvailableModels failed; keeping the current list", extra={"fields": {"error": repr(exc)}}
            )
            return
        models = tuple(info for info in map(_info, raw if isinstance(raw, list) else []) if info is not None)
        if not models:
            return
        self._models = models
        self._by_id = {m.id: m for m in models}
        self._fetched_at = time.monotonic()

    async def ensure_fresh(self, creds: KiroCredentials | None, wait: float) -> None:
        """For /v1/models: refresh a stale list first, waiting at most `wait` seconds."""
        if self.fresh or creds is None:
            return
        self._attempted_at = float("-inf")  # an explicit listing may always ask
        self.refresh_in_background(creds)
        task = self._refreshing
        if task is not None:
            await asyncio.wait({task}, timeout=wait)

"""The models each account offers, as this process knows them (docs/models.md).

Entitlements differ between accounts, so the list is kept per account. Behind the router the refresher
caches each account's ListAvailableModels answer in Redis (`shared/kiro/models.py`) and a gateway reads
it (`SharedCatalogues`, a process cache in front); a standalone gateway, or an account the refresher has
no list for yet, asks Kiro itself in the background. Until a list is known the built-in one stands in,
marked unconfirmed: it serves the names it settles for sure, and a request it could only guess for waits
briefly for the account's own list (`ModelCatalog.resolve`).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

import aiohttp

from services.gateway.credentials import KiroCredentials
from services.gateway.translate import KNOWN_MODELS, ModelResolver, ResolvedModel
from shared.errors import UpstreamError
from shared.kiro.models import Catalogue, ModelInfo, model_infos
from shared.logging import log_fields
from shared.tasks import start_logged

logger = logging.getLogger(__name__)

#: the date shown as `created_at` / `created` for every model (Kiro does not say)
MODELS_CREATED = 1758931200  # 2025-09-27T00:00:00Z
#: accounts whose lists one process keeps (standalone clients may each bring their own refresh token)
MAX_ACCOUNTS = 1024
#: seconds a request waits for an account's list it needs and this process does not know yet
LIST_WAIT = 5.0
#: resolutions against the built-in list that are guesses: the account's own list decides them
_GUESSES = frozenset({"newer", "unchecked"})

FALLBACK = tuple(ModelInfo(model, model) for model in KNOWN_MODELS)

Fetch = Callable[[KiroCredentials], Any]  # async (creds) -> list of raw model dicts
Source = Literal["refresher", "kiro", "built-in"]


class SharedCatalogues(Protocol):
    """The refresher's per-account lists (Redis in the stack); `load` never raises, None when absent."""

    async def load(self, account_id: str) -> Catalogue | None: ...

    async def close(self) -> None: ...


@dataclass(slots=True)
class AccountModels:
    """One account's list, where it came from, and the resolvers built for it."""

    models: tuple[ModelInfo, ...]
    source: Source
    checked_at: float = float("-inf")  # monotonic: when the list was last looked for
    fetched_at: float = float("-inf")  # monotonic: when Kiro last answered this process for it
    attempted_at: float = float("-inf")  # monotonic: the last own call to Kiro, answered or not
    by_id: dict[str, ModelInfo] = field(default_factory=dict)
    resolvers: dict[tuple[object, ...], ModelResolver] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.by_id = {m.id: m for m in self.models}

    @property
    def confirmed(self) -> bool:
        return self.source != "built-in"


class ModelCatalog:
    """Per-account model lists shared by every request of the process; refreshed in the background."""

    def __init__(
        self,
        fetch: Fetch,
        *,
        ttl: float,
        default_window: int,
        retry_after: float = 60.0,
        shared: SharedCatalogues | None = None,
        shared_ttl: float = 60.0,
    ) -> None:
        self._fetch = fetch
        self._ttl = ttl
        self._retry_after = retry_after
        self._default_window = default_window
        self._shared = shared
        self._shared_ttl = shared_ttl
        self._accounts: OrderedDict[str, AccountModels] = OrderedDict()
        self._renewing: dict[str, asyncio.Task[None]] = {}

    @property
    def known(self) -> int:
        """Accounts whose own list this process knows (for /ready)."""
        return sum(1 for entry in self._accounts.values() if entry.confirmed)

    async def for_account(self, creds: KiroCredentials) -> AccountModels:
        """The account's list now; a stale one is renewed in the background (never waited for).

        Only an account this process has never seen waits, for one Redis read at most (bounded by the
        client's deadline); without a cached list it gets the built-in one while Kiro is asked.
        """
        key = creds.account_id
        entry = self._accounts.get(key)
        if entry is None:
            entry = await self._first_look(creds)
        else:
            self._accounts.move_to_end(key)
        if self._stale(entry):
            self.renew_in_background(creds)
        return entry

    def _stale(self, entry: AccountModels) -> bool:
        now = time.monotonic()
        if self._shared is not None and now - entry.checked_at >= self._shared_ttl:
            return True
        if entry.source == "refresher" or now - entry.attempted_at < self._retry_after:
            return False
        return now - entry.fetched_at >= self._ttl

    async def _first_look(self, creds: KiroCredentials) -> AccountModels:
        cached = await self._load_shared(creds.account_id)
        entry = (
            AccountModels(cached.models, "refresher", checked_at=time.monotonic())
            if cached is not None
            else AccountModels(FALLBACK, "built-in")
        )
        self._put(creds.account_id, entry)
        return entry

    async def _load_shared(self, account_id: str) -> Catalogue | None:
        if self._shared is None or not account_id:
            return None
        return await self._shared.load(account_id)

    def _put(self, key: str, entry: AccountModels) -> None:
        self._accounts[key] = entry
        self._accounts.move_to_end(key)
        while len(self._accounts) > MAX_ACCOUNTS:
            self._accounts.popitem(last=False)

    def renew_in_background(self, creds: KiroCredentials) -> None:
        """Start one renewal for this account unless one runs already (never blocks a request)."""
        running = self._renewing.get(creds.account_id)
        if running is not None and not running.done():
            return
        self._renewing[creds.account_id] = start_logged("model list refresh", self.renew(creds))

    async def renew(self, creds: KiroCredentials) -> None:
        """The refresher's list when it has one; else ask Kiro (when failing, once per `retry_after`)."""
        key = creds.account_id
        try:
            now = time.monotonic()
            cached = await self._load_shared(key)
            entry = self._accounts.get(key) or AccountModels(FALLBACK, "built-in")
            if cached is not None:
                if entry.source == "refresher" and entry.models == cached.models:
                    entry.checked_at = now  # unchanged: keep the resolvers built for it
                else:
                    self._put(key, AccountModels(cached.models, "refresher", checked_at=now))
                return
            entry.checked_at = now
            if entry.source == "refresher":
                entry.source = "kiro"  # the refresher's copy expired: what we had is still Kiro's word
                entry.fetched_at = now
            if now - entry.fetched_at < self._ttl or now - entry.attempted_at < self._retry_after:
                return
            entry.attempted_at = now
            models = await self._ask_kiro(creds)
            if models:
                self._put(key, AccountModels(models, "kiro", checked_at=now, fetched_at=time.monotonic()))
            elif key not in self._accounts:
                self._put(key, entry)
        finally:
            self._renewing.pop(key, None)

    async def _ask_kiro(self, creds: KiroCredentials) -> tuple[ModelInfo, ...]:
        try:
            raw = await self._fetch(creds)
        except (UpstreamError, aiohttp.ClientError, OSError, TimeoutError, ValueError) as exc:
            logger.warning(
                "ListAvailableModels failed; keeping the current list",
                extra=log_fields(account=creds.account_id or "-", error=repr(exc)),
            )
            return ()
        return model_infos(raw if isinstance(raw, list) else [])

    async def ensure_known(self, creds: KiroCredentials, wait: float) -> AccountModels:
        """For /v1/models: an account without a confirmed list waits up to `wait` seconds for one."""
        entry = await self.for_account(creds)
        if entry.confirmed:
            return entry
        entry.attempted_at = float("-inf")  # an explicit listing may always ask
        self.renew_in_background(creds)
        task = self._renewing.get(creds.account_id)
        if task is not None:
            await asyncio.wait({task}, timeout=wait)
        return self._accounts.get(creds.account_id, entry)

    async def resolve(
        self, creds: KiroCredentials, name: str, aliases: Mapping[str, str], default_model: str, suffix: str
    ) -> tuple[ResolvedModel, AccountModels]:
        """`name` against the account's list, and that list; InvalidRequestError when it offers no match.

        While the account's list is not known, a name the built-in list settles for sure (an id, a
        spelling of one, an alias, a retired name) is served at once; one it could only guess at (a newer
        version, an unknown name) waits up to LIST_WAIT for the account's own list. Only when Kiro cannot
        say does the guess stand (and Kiro itself refuses a model the account lacks).
        """
        entry = await self.for_account(creds)
        resolved = self.resolver(entry, aliases, default_model, suffix).resolve(name)
        if entry.confirmed or resolved.how not in _GUESSES:
            return resolved, entry
        entry = await self.ensure_known(creds, LIST_WAIT)
        return self.resolver(entry, aliases, default_model, suffix).resolve(name), entry

    def context_window(self, entry: AccountModels, model_id: str) -> int:
        info = entry.by_id.get(model_id)
        return info.context_window if info and info.context_window else self._default_window

    @staticmethod
    def resolver(
        entry: AccountModels, aliases: Mapping[str, str], default_model: str, thinking_suffix: str
    ) -> ModelResolver:
        """A resolver for the account's list and these options, built once per distinct combination."""
        key = (tuple(sorted(aliases.items())), default_model, thinking_suffix)
        resolver = entry.resolvers.get(key)
        if resolver is None:
            if len(entry.resolvers) > 64:
                entry.resolvers.clear()
            resolver = ModelResolver(
                [m.id for m in entry.models],
                aliases,
                default_model,
                thinking_suffix,
                confirmed=entry.confirmed,
            )
            entry.resolvers[key] = resolver
        return resolver

    async def close(self) -> None:
        for task in list(self._renewing.values()):
            task.cancel()
        if self._shared is not None:
            await self._shared.close()

"""Everything a route needs, built once in the app lifespan and stored on `app.state.ctx`."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Annotated, Any

import aiohttp
from fastapi import Depends, Request

from services.router.credentials import CredentialCache
from services.router.gateways import Gateways
from services.router.known_keys import KnownKeys
from services.router.metrics import RouterMetrics
from services.router.pending_releases import PendingReleases
from services.router.reqlog import RequestLog
from services.router.runtime import RuntimeSettings
from services.router.settings import RouterSettings
from shared.accounts.pool import Pool
from shared.accounts.state import AccountStates
from shared.accounts.store import AccountStore
from shared.clientkeys import ClientKeys
from shared.crypto import SecretBox
from shared.keys import Keys
from shared.redis_topology import StackRedis
from shared.retry_budget import RetryBudget


@dataclass
class AppContext:
    """The router's resources; closed by the lifespan that created them."""

    settings: RouterSettings
    redis: StackRedis
    keys: Keys
    box: SecretBox
    states: AccountStates
    store: AccountStore
    pool: Pool
    client_keys: ClientKeys
    arq: Any  # arq.connections.ArqRedis (arq ships no type hints)
    http: aiohttp.ClientSession
    metrics: RouterMetrics
    gateways: Gateways
    runtime: RuntimeSettings
    credentials: CredentialCache
    request_log: RequestLog
    pending_releases: PendingReleases  # leases to free once Redis answers again
    failover_budget: RetryBudget = field(default_factory=RetryBudget)  # failovers after Kiro errors
    known_keys: KnownKeys = field(default_factory=KnownKeys)  # checked before a request body is read
    draining: bool = False
    open_streams: set[asyncio.Task[Any]] = field(default_factory=set)  # relays in progress
    #: monotonic time of the last "refresh every pooled account" sweep (503 slow path)
    refresh_sweep_at: float = -1e9


def app_context(request: Request) -> AppContext:
    """The context of the app serving `request`."""
    ctx: AppContext = request.app.state.ctx
    return ctx


async def get_ctx(request: Request) -> AppContext:
    """FastAPI dependency: `ctx: AppContext = Depends(get_ctx)` (async: a sync one would hop to a thread)."""
    return app_context(request)


#: route parameter type: `ctx: Ctx`
Ctx = Annotated[AppContext, Depends(get_ctx)]

"""Everything a refresher job needs, built once per worker process (`build` / `close`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import aiohttp

from services.refresher.metrics import RefresherMetrics
from services.refresher.settings import RefresherSettings
from shared.accounts.ops import AccountOps
from shared.accounts.state import AccountStates
from shared.accounts.store import AccountStore
from shared.accounts.tokens import TokenStore
from shared.crypto import SecretBox
from shared.keys import Keys
from shared.kiro.auth import KiroAuth
from shared.kiro.endpoints import KiroEndpoints
from shared.kiro.transport import AuthHttp
from shared.redis import create_redis
from shared.redis_topology import StackRedis


@dataclass
class Refresher:
    """The refresher's resources: StackRedis, stores, the auth client and metrics."""

    settings: RefresherSettings
    redis: StackRedis
    keys: Keys
    store: AccountStore
    tokens: TokenStore
    states: AccountStates
    ops: AccountOps
    auth: KiroAuth
    http: AuthHttp
    session: aiohttp.ClientSession
    metrics: RefresherMetrics

    @classmethod
    def build(cls, settings: RefresherSettings, arq_pool: Any = None) -> Refresher:
        """Create the resources (call inside the running event loop; `close()` them at shutdown)."""
        redis = create_redis(
            settings, max_connections=max(32, settings.refresh_concurrency * 4), allow_cluster=True
        )
        keys = Keys(settings.redis_key_prefix)
        box = SecretBox(settings.secret("kiro_secret_key"))
        session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=max(16, settings.refresh_concurrency * 2))
        )
        auth = KiroAuth(
            KiroEndpoints.from_settings(settings), settings.kiro_ide_version, settings.kiro_sdk_version
        )
        return cls(
            settings=settings,
            redis=redis,
            keys=keys,
            store=AccountStore(redis, keys, box),
            tokens=TokenStore(redis, keys, box),
            states=AccountStates(redis, keys),
            ops=AccountOps(redis, keys, box, arq_pool),
            auth=auth,
            http=AuthHttp(
                session, timeout=settings.refresh_timeout_seconds, proxy_url=settings.vpn_proxy_url
            ),
            session=session,
            metrics=RefresherMetrics(),
        )

    async def close(self) -> None:
        await self.http.close()
        await self.session.close()
        await self.redis.aclose()  # its pool too (create_redis)

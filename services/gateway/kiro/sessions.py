"""The upstream HTTP sessions of one gateway process: one pooled session, plus one per SOCKS proxy.

Created in the app lifespan and closed there. HTTP(S) proxies ride the shared session (`proxy=` per
request); a SOCKS proxy needs its own connector, so each distinct SOCKS URL gets one lazily created
session (an account has one proxy, so there are few of them).
"""

from __future__ import annotations

import aiohttp


class UpstreamSessions:
    """aiohttp sessions sized for hundreds of concurrent streams."""

    def __init__(self, *, max_connections: int, connect_timeout: float, default_proxy: str | None) -> None:
        self._max_connections = max_connections
        self._timeout = aiohttp.ClientTimeout(
            total=None, connect=connect_timeout, sock_connect=connect_timeout
        )
        self.default_proxy = default_proxy or None
        self._main = self._new_session(None)
        self._socks: dict[str, aiohttp.ClientSession] = {}

    def _new_session(self, socks_url: str | None) -> aiohttp.ClientSession:
        connector: aiohttp.BaseConnector
        if socks_url:
            # imported here: only accounts behind a SOCKS proxy need it (32 modules, ~0.5 MiB)
            from aiohttp_socks import ProxyConnector

            connector = ProxyConnector.from_url(socks_url, limit=self._max_connections, ttl_dns_cache=300)
        else:
            connector = aiohttp.TCPConnector(limit=self._max_connections, ttl_dns_cache=300)
        return aiohttp.ClientSession(
            connector=connector,
            timeout=self._timeout,
            json_serialize=lambda _: "",  # bodies are serialised with orjson by the callers
            raise_for_status=False,
        )

    def for_proxy(self, proxy_url: str | None) -> tuple[aiohttp.ClientSession, str | None]:
        """The session to use and the `proxy=` argument for it (None when the connector proxies)."""
        proxy = proxy_url or self.default_proxy
        if not proxy:
            return self._main, None
        if proxy.startswith(("socks4://", "socks5://", "socks5h://", "socks4a://")):
            session = self._socks.get(proxy)
            if session is None:
                session = self._socks[proxy] = self._new_session(proxy)
            return session, None
        return self._main, proxy

    async def close(self) -> None:
        await self._main.close()
        for session in self._socks.values():
            await session.close()
        self._socks.clear()

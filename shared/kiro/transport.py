"""HTTP to Kiro with aiohttp: the sessions per proxy (HTTP or SOCKS), and the caller of `auth.py` requests."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import aiohttp
import orjson

from shared.errors import FailureKind, UpstreamError
from shared.kiro.answers import json_or_text
from shared.kiro.auth import AuthRequest


@dataclass(frozen=True)
class RawAnswer:
    """An HTTP answer as it came: status, headers (lower-case names), body bytes."""

    status: int
    headers: dict[str, str]
    body: bytes
    truncated: bool = False


#: proxy URL schemes that need a SOCKS connector (an HTTP(S) proxy rides a session as `proxy=`)
SOCKS_SCHEMES = ("socks4://", "socks4a://", "socks5://", "socks5h://")


class ProxySessions:
    """One pooled aiohttp session, plus one per SOCKS proxy URL; one helper for gateway and refresher.

    HTTP(S) proxies ride the main session (`proxy=` per request); a SOCKS proxy needs its own connector,
    so each distinct SOCKS URL gets a lazily created session (an account has one proxy: there are few).
    A main session passed in belongs to the caller; `close()` closes what this object created (call it in
    the owner's lifespan).
    """

    def __init__(
        self,
        *,
        main: aiohttp.ClientSession | None = None,
        default_proxy: str | None = None,
        max_connections: int = 100,
        connect_timeout: float | None = None,
    ) -> None:
        self._max_connections = max_connections
        self._timeout = (
            aiohttp.ClientTimeout(total=None, connect=connect_timeout, sock_connect=connect_timeout)
            if connect_timeout
            else None
        )
        self.default_proxy = default_proxy or None
        self._owns_main = main is None
        self._main = main if main is not None else self._new_session(None)
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
            timeout=self._timeout or aiohttp.ClientTimeout(total=None),
            json_serialize=lambda _: "",  # bodies are serialised with orjson by the callers
        )

    def for_proxy(self, proxy_url: str | None) -> tuple[aiohttp.ClientSession, str | None]:
        """The session to use and the `proxy=` argument for it (None when the connector proxies)."""
        proxy = proxy_url or self.default_proxy
        if not proxy:
            return self._main, None
        if proxy.startswith(SOCKS_SCHEMES):
            session = self._socks.get(proxy)
            if session is None:
                session = self._socks[proxy] = self._new_session(proxy)
            return session, None
        return self._main, proxy

    async def close(self) -> None:
        if self._owns_main:
            await self._main.close()
        for session in self._socks.values():
            await session.close()
        self._socks.clear()


class AuthHttp:
    """Sends `AuthRequest`s with aiohttp: one timeout for the whole call, an optional proxy per call.

    Proxies as `ProxySessions` handles them; `close()` closes its SOCKS sessions (call it in the owner's
    lifespan; the session passed in belongs to the caller).
    """

    def __init__(
        self, session: aiohttp.ClientSession, *, timeout: float = 30.0, proxy_url: str | None = None
    ):
        self._sessions = ProxySessions(main=session, default_proxy=proxy_url)
        self._timeout = aiohttp.ClientTimeout(total=timeout, connect=min(timeout, 10.0))

    async def send(self, request: AuthRequest, *, proxy_url: str | None = None) -> tuple[int, Any]:
        """Status and parsed JSON body (raw text when not JSON). Raises UpstreamError on network failure."""
        answer = await self.exchange(request, proxy_url=proxy_url)
        return answer.status, json_or_text(answer.body)

    async def exchange(
        self, request: AuthRequest, *, proxy_url: str | None = None, max_bytes: int | None = None
    ) -> RawAnswer:
        """Status, headers and body bytes (at most `max_bytes`, then `truncated`); UpstreamError on
        network failure."""
        session, http_proxy = self._sessions.for_proxy(proxy_url)
        kwargs: dict[str, Any] = {"headers": request.headers, "timeout": self._timeout, "proxy": http_proxy}
        if request.json is not None:
            kwargs["data"] = orjson.dumps(request.json)
        elif request.form is not None:
            kwargs["data"] = request.form
        truncated = False
        try:
            async with session.request(request.method, request.url, **kwargs) as response:
                if max_bytes is None:
                    raw = await response.read()
                else:
                    raw, truncated = await _read_capped(response.content, max_bytes)
                headers = {name.lower(): value for name, value in response.headers.items()}
                return RawAnswer(response.status, headers, raw, truncated)
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            raise UpstreamError(
                FailureKind.UPSTREAM_ERROR, f"{type(exc).__name__} calling {_host(request.url)}"
            ) from exc

    async def close(self) -> None:
        """Close the per-proxy sessions (the shared session belongs to the caller)."""
        await self._sessions.close()


async def _read_capped(content: aiohttp.StreamReader, max_bytes: int) -> tuple[bytes, bool]:
    """At most `max_bytes` of a body, and whether more was left unread."""
    raw = bytearray()
    while len(raw) < max_bytes:
        chunk = await content.read(max_bytes - len(raw))
        if not chunk:
            return bytes(raw), False
        raw += chunk
    return bytes(raw), not content.at_eof()


def _host(url: str) -> str:
    return url.split("/", 3)[2] if url.count("/") >= 2 else url

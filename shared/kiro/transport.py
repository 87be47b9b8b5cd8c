"""Sends the requests of `auth.py` with aiohttp: one timeout per call, a proxy per call (HTTP or SOCKS)."""

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


class AuthHttp:
    """Sends `AuthRequest`s with aiohttp: one timeout for the whole call, an optional proxy per call.

    HTTP(S) proxies go through the shared session; SOCKS proxies need their own connector, so one
    session per SOCKS proxy URL is kept and closed with `close()` (call it in the owner's lifespan).
    """

    def __init__(
        self, session: aiohttp.ClientSession, *, timeout: float = 30.0, proxy_url: str | None = None
    ):
        self._session = session
        self._timeout = aiohttp.ClientTimeout(total=timeout, connect=min(timeout, 10.0))
        self._default_proxy = proxy_url or None
        self._socks: dict[str, aiohttp.ClientSession] = {}

    async def send(self, request: AuthRequest, *, proxy_url: str | None = None) -> tuple[int, Any]:
        """Status and parsed JSON body (raw text when not JSON). Raises UpstreamError on network failure."""
        answer = await self.exchange(request, proxy_url=proxy_url)
        return answer.status, json_or_text(answer.body)

    async def exchange(
        self, request: AuthRequest, *, proxy_url: str | None = None, max_bytes: int | None = None
    ) -> RawAnswer:
        """Status, headers and body bytes (at most `max_bytes`, then `truncated`); UpstreamError on
        network failure."""
        proxy = proxy_url or self._default_proxy
        session, http_proxy = self._session, None
        if proxy and proxy.startswith("socks"):
            session = self._socks_session(proxy)
        elif proxy:
            http_proxy = proxy
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

    def _socks_session(self, proxy: str) -> aiohttp.ClientSession:
        session = self._socks.get(proxy)
        if session is None:
            from aiohttp_socks import ProxyConnector

            session = aiohttp.ClientSession(connector=ProxyConnector.from_url(proxy))
            self._socks[proxy] = session
        return session

    async def close(self) -> None:
        """Close the per-proxy sessions (the shared session belongs to the caller)."""
        for session in self._socks.values():
            await session.close()
        self._socks.clear()


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

"""Calls to the gateways: header hygiene, internal credentials, connection failover between gateways."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from dataclasses import dataclass

import aiohttp

from services.router.context import AppContext
from services.router.credentials import Credentials
from shared.logging import log_fields

log = logging.getLogger(__name__)

#: request headers never forwarded: hop-by-hop, our own auth, and what aiohttp recomputes
_DROP_REQUEST = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "expect",
        "host",
        "content-length",
        "accept-encoding",
        "authorization",
        "x-api-key",
        "x-internal-key",
        "cookie",
        "x-request-id",
    }
)
#: response headers never passed back (hop-by-hop, framing the server redoes)
_DROP_RESPONSE = frozenset(
    {
        b"connection",
        b"keep-alive",
        b"proxy-authenticate",
        b"te",
        b"trailer",
        b"transfer-encoding",
        b"upgrade",
        b"content-length",
        b"content-encoding",
        b"date",
        b"server",
    }
)


class GatewayUnreachable(Exception):
    """No gateway accepted the request (connection refused, reset or timed out before the headers)."""


@dataclass
class Upstream:
    response: aiohttp.ClientResponse
    gateway: str


def forward_headers(
    client_headers: Iterable[tuple[str, str]],
    ctx: AppContext,
    request_id: str,
    options: str,
    creds: Credentials | None,
) -> dict[str, str]:
    """Client headers minus anything internal or hop-by-hop, plus the internal key and credentials."""
    out = {
        name: value
        for name, value in client_headers
        if name not in _DROP_REQUEST and not name.startswith("x-kiro-")
    }
    internal = ctx.settings.secret("internal_api_key")
    if internal:
        out["X-Internal-Key"] = internal
    out["X-Request-Id"] = request_id
    out["X-Kiro-Options"] = options
    if creds is not None:
        out.update(creds.headers())
    return out


def response_headers(upstream: aiohttp.ClientResponse) -> list[tuple[bytes, bytes]]:
    """The gateway's headers as the client should see them (no `X-Kiro-*`, no hop-by-hop)."""
    out = []
    for name, value in upstream.raw_headers:
        lower = name.lower()
        if lower in _DROP_RESPONSE or lower.startswith(b"x-kiro-"):
            continue
        out.append((lower, value))
    return out


#: connections tried per gateway URL: behind one URL (a Service, compose DNS, a balancer) a new connection
#: may reach another replica when the last one reached a replica that is restarting
_CONNECTIONS_PER_GATEWAY = 3


async def open_upstream(
    ctx: AppContext, method: str, path: str, body: bytes, headers: dict[str, str]
) -> Upstream:
    """Send the request to the first gateway that answers; raises GatewayUnreachable when none does.

    A connection refused or reset before any answer is tried again on the same URL (a new connection),
    up to `_CONNECTIONS_PER_GATEWAY` times within the connect deadline; a timeout or a malformed answer
    moves on to the next URL at once. A URL that failed all its tries counts one failure toward down
    (`Gateways`): one refused connection never takes it, or readiness, down.
    """
    timeout = aiohttp.ClientTimeout(
        total=None,
        sock_connect=ctx.settings.gateway_connect_timeout,
        sock_read=ctx.settings.gateway_read_timeout,
    )
    loop = asyncio.get_running_loop()
    for gateway in ctx.gateways.order():
        deadline = loop.time() + ctx.settings.gateway_connect_timeout
        for attempt in range(1, _CONNECTIONS_PER_GATEWAY + 1):
            try:
                response = await ctx.http.request(
                    method, gateway + path, data=body or None, headers=headers, timeout=timeout
                )
            except (aiohttp.ClientError, TimeoutError) as exc:  # refused, reset, timed out or not HTTP
                log.warning(
                    "gateway unreachable",
                    extra=log_fields(gateway=gateway, attempt=attempt, error=repr(exc)),
                )
                refused = isinstance(exc, aiohttp.ClientConnectionError) and not isinstance(exc, TimeoutError)
                if refused and attempt < _CONNECTIONS_PER_GATEWAY and loop.time() < deadline:
                    continue
                ctx.gateways.report_unreachable(gateway)
                break
            return Upstream(response, gateway)
    raise GatewayUnreachable("no gateway answered")


def failure_of(upstream: aiohttp.ClientResponse) -> str | None:
    """The gateway's `X-Kiro-Failure` verdict on an error answer, if any."""
    if upstream.status < 400:
        return None
    return upstream.headers.get("X-Kiro-Failure")


def header_float(upstream: aiohttp.ClientResponse, name: str) -> float | None:
    raw = upstream.headers.get(name)
    if raw is None:
        return None
    try:
        return float(raw)
    except ValueError:
        return None

"""Calls to the gateways: header allowlist, internal credentials, connection failover between gateways."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from dataclasses import dataclass

import aiohttp

from services.router.context import AppContext
from services.router.credentials import Credentials
from shared.client_errors import PROTOCOL_HEADER, Protocol
from shared.errors import KiroStackError
from shared.logging import log_fields

log = logging.getLogger(__name__)

#: the only client request headers a gateway sees (fail closed: a header not named here stays at the
#: router — hop-by-hop, credentials, cookies, `X-Kiro-*`, `X-Forwarded-*`, anything new). These are what
#: the gateway reads (`x-claude-code-session-id` the conversation) or what says which client and API
#: version asked. Which protocol the client speaks goes in `PROTOCOL_HEADER`, decided here.
_FORWARD = frozenset(
    {
        "accept",
        "anthropic-beta",
        "anthropic-version",
        "content-type",
        "user-agent",
        "x-claude-code-session-id",
    }
)
#: client SDK headers forwarded by prefix: OpenAI's organization/project/beta, the SDKs' telemetry
_FORWARD_PREFIXES = ("openai-", "x-stainless-")
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


class GatewayUnreachable(KiroStackError):
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
    *,
    protocol: Protocol,
) -> dict[str, str]:
    """The allowed client headers, plus the internal key, request id, options, protocol and credentials."""
    out = {name: value for name, value in client_headers if _forwarded(name)}
    internal = ctx.settings.secret("internal_api_key")
    if internal:
        out["X-Internal-Key"] = internal
    out["X-Request-Id"] = request_id
    out["X-Kiro-Options"] = options
    out[PROTOCOL_HEADER] = protocol.value
    if creds is not None:
        out.update(creds.headers())
    return out


def _forwarded(name: str) -> bool:
    lower = name.lower()
    return lower in _FORWARD or lower.startswith(_FORWARD_PREFIXES)


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

"""Calls to the gateways: header allowlist, internal credentials, failover between gateway addresses."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass

import aiohttp

from services.router.context import AppContext
from services.router.credentials import Credentials
from services.router.gateways import Address
from shared import contract
from shared.client_errors import Protocol
from shared.errors import KiroStackError
from shared.logging import log_fields

_INTERNAL = contract.PREFIX.encode()
log = logging.getLogger(__name__)

#: the only client request headers a gateway sees (fail closed: a header not named here stays at the
#: router — hop-by-hop, credentials, cookies, `X-Kiro-*`, `X-Forwarded-*`, anything new). These are what
#: the gateway reads (`x-claude-code-session-id` the conversation) or what says which client and API
#: version asked. Which protocol the client speaks goes in `contract.CLIENT_PROTOCOL`, decided here.
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


@dataclass(eq=False)
class Upstream:
    """A gateway's answer, counted in flight on its address until `close()`."""

    response: aiohttp.ClientResponse
    address: Address
    _open: bool = True

    def close(self) -> None:
        """Release the response and count the request out of its address (only once)."""
        self.response.release()
        if self._open:
            self._open = False
            self.address.end()


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
    out[contract.OPTIONS] = options
    out[contract.CLIENT_PROTOCOL] = protocol.value
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
        if lower in _DROP_RESPONSE or lower.startswith(_INTERNAL):
            continue
        out.append((lower, value))
    return out


async def open_upstream(
    ctx: AppContext, method: str, path: str, body: bytes, headers: dict[str, str]
) -> Upstream:
    """Send the request to the first gateway address that answers; raises GatewayUnreachable when none does.

    Addresses are tried in `Gateways.order()` (fewest in flight first). A connection refused, reset or
    timed out, or a malformed answer, moves on to the next address at once and counts one failure toward
    that address's ejection: one refused connection never ejects it, nor takes readiness down. The request
    connects to the address and keeps the gateway's name as `Host` (and as TLS server name for https).
    """
    timeout = aiohttp.ClientTimeout(
        total=None,
        sock_connect=ctx.settings.gateway_connect_timeout,
        sock_read=ctx.settings.gateway_read_timeout,
    )
    for address in ctx.gateways.order():
        address.begin()
        try:
            response = await ctx.http.request(
                method,
                address.base + path,
                data=body or None,
                headers={**headers, "Host": address.gateway.host_header},
                timeout=timeout,
                server_hostname=address.server_hostname,
            )
        except (aiohttp.ClientError, TimeoutError) as exc:  # refused, reset, timed out or not HTTP
            address.end()
            log.warning(
                "gateway unreachable",
                extra=log_fields(gateway=address.gateway.url, address=address.ip, error=repr(exc)),
            )
            ctx.gateways.failed(address)
            continue
        except BaseException:
            address.end()
            raise
        ctx.gateways.answered(address)
        return Upstream(response, address)
    raise GatewayUnreachable("no gateway answered")


def failure_of(upstream: aiohttp.ClientResponse) -> str | None:
    """The gateway's `X-Kiro-Failure` verdict on an error answer, if any."""
    if upstream.status < 400:
        return None
    return upstream.headers.get(contract.FAILURE)


def header_float(upstream: aiohttp.ClientResponse, name: str) -> float | None:
    raw = upstream.headers.get(name)
    if raw is None:
        return None
    try:
        return float(raw)
    except ValueError:
        return None

"""Which addresses the image fetcher may connect to: the guard against server-side request forgery.

The check sits in the connector's resolver, so the addresses checked are the addresses connected to:
there is no second lookup an attacker's DNS could answer differently. aiohttp never asks the resolver
about IP literals, so the fetcher checks those itself (`check_literal`).
"""

from __future__ import annotations

import ipaddress
import socket

from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import ThreadedResolver

from shared.errors import ImageFetchError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def refusal(address: IPAddress) -> str | None:
    """Why the fetcher must not connect to `address` ("a private address", ...); None if it is public."""
    if isinstance(address, ipaddress.IPv6Address):
        embedded = address.ipv4_mapped or address.sixtofour
        if embedded is not None:
            return refusal(embedded)
    checks = (
        (address.is_unspecified, "an unspecified address"),
        (address.is_loopback, "a loopback address"),
        (address.is_link_local, "a link-local address"),
        (address.is_multicast, "a multicast address"),
        (address.is_private, "a private address"),
        (address.is_reserved, "a reserved address"),
        (not address.is_global, "a non-public address"),
    )
    return next((reason for refused, reason in checks if refused), None)


def refused(reason: str) -> ImageFetchError:
    return ImageFetchError(f"image URL refused: {reason}", refused=True)


def normal_host(host: str) -> str:
    return host.lower().rstrip(".").strip("[]")


def check_literal(host: str, allowed: frozenset[str]) -> None:
    """An IP-literal host must be public (or allow-listed); host names are checked when resolved."""
    name = normal_host(host)
    try:
        address = ipaddress.ip_address(name)
    except ValueError:
        return
    reason = refusal(address)
    if reason and name not in allowed:
        raise refused(f"{name} is {reason}")


class GuardedResolver(AbstractResolver):
    """Resolves with getaddrinfo and refuses a name if any of its addresses is not public."""

    def __init__(self, allowed_hosts: frozenset[str]) -> None:
        self._allowed = allowed_hosts
        self._inner = ThreadedResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        results = await self._inner.resolve(host, port, family)
        if normal_host(host) in self._allowed:
            return results
        for result in results:
            reason = refusal(ipaddress.ip_address(result["host"]))
            if reason:
                raise refused(f"{host} resolves to {reason}")
        return results

    async def close(self) -> None:
        await self._inner.close()

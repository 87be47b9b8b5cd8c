"""Gateway names to addresses: a hosts-format file first (`GATEWAY_HOSTS_FILE`, when set), then DNS.

One name behind several replicas (a headless Kubernetes Service, compose's DNS under `--scale`) resolves
to every replica's address; the router balances over those itself. An IP literal resolves to itself.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

#: a resolver: host name → its addresses (raises OSError when it cannot say)
Resolve = Callable[[str], Awaitable[list[str]]]

_DEFAULT_PORTS = {"http": 80, "https": 443}


@dataclass(frozen=True)
class GatewayName:
    """One entry of `GATEWAY_URLS`: the URL as configured and what a request to one of its addresses keeps."""

    url: str  # as configured, no trailing slash: the `gateway` metric label
    scheme: str
    host: str
    port: int
    host_header: str  # `Host` as a request to the URL would send it (SNI too, for https)

    @classmethod
    def parse(cls, url: str) -> GatewayName:
        parts = urlsplit(url)
        if parts.scheme not in _DEFAULT_PORTS or not parts.hostname:
            raise ValueError(f"gateway URL {url!r} is not http(s)://host[:port]")
        if parts.path not in ("", "/") or parts.query:
            raise ValueError(f"gateway URL {url!r} has a path; give the base URL only")
        port = parts.port or _DEFAULT_PORTS[parts.scheme]
        host = parts.hostname
        shown = f"[{host}]" if ":" in host else host
        header = shown if port == _DEFAULT_PORTS[parts.scheme] else f"{shown}:{port}"
        return cls(url, parts.scheme, host, port, header)

    @property
    def is_literal(self) -> bool:
        """The host is an IP address: nothing to resolve, ever."""
        return literal(self.host)

    def base(self, address: str) -> str:
        """The base URL that connects to `address` on this gateway's port."""
        shown = f"[{address}]" if ":" in address else address
        return f"{self.scheme}://{shown}:{self.port}"


def literal(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


async def dns(host: str) -> list[str]:
    """Every address the system resolver gives for `host` (A and AAAA), in its order, once each."""
    if literal(host):
        return [host]
    infos = await asyncio.get_running_loop().getaddrinfo(host, None, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def read_hosts(text: str) -> dict[str, list[str]]:
    """`address name [name...]` lines (`#` comments) as name → addresses, in file order."""
    names: dict[str, list[str]] = {}
    for line in text.splitlines():
        fields = line.split("#", 1)[0].split()
        if len(fields) < 2 or not literal(fields[0]):
            continue
        for name in fields[1:]:
            found = names.setdefault(name.lower(), [])
            if fields[0] not in found:
                found.append(fields[0])
    return names


def resolver(hosts_file: str | None, fallback: Resolve = dns) -> Resolve:
    """Names listed in `hosts_file` (read again on every call, so edits apply) resolve from it; others
    through `fallback`. An unreadable file is an OSError like a failed DNS lookup."""
    if not hosts_file:
        return fallback
    path = Path(hosts_file)

    async def resolve(host: str) -> list[str]:
        listed = read_hosts(await asyncio.to_thread(path.read_text)).get(host.lower())
        return listed if listed else await fallback(host)

    return resolve

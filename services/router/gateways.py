"""The gateway replicas: round-robin over the healthy ones, probed in the background.

A gateway URL counts as down only after `_FAILURES_TO_DOWN` failures in a row — failed probes, or
requests that found no connection to it after their retries (`report_unreachable`) — and as up again
after one good probe (Envoy-style consecutive-failure outlier detection). Behind one URL there are often
several replicas (a Kubernetes Service, compose DNS, a balancer): one replica restarting refuses a
connection or two, and must not take the whole URL, or the router's readiness, down with it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator

import aiohttp

from services.router.metrics import RouterMetrics
from shared.logging import log_fields

log = logging.getLogger(__name__)

_PROBE_TIMEOUT = aiohttp.ClientTimeout(total=5.0)
#: failures in a row before a gateway counts as down (a busy gateway answers slowly, not never)
_FAILURES_TO_DOWN = 3


class Gateways:
    """Base URLs of the gateways and which of them count as healthy."""

    def __init__(self, urls: list[str], metrics: RouterMetrics) -> None:
        if not urls:
            raise ValueError("at least one gateway URL is required")
        self.urls = urls
        self._healthy = dict.fromkeys(urls, True)
        # until a gateway has answered once, one failure is enough to call it down
        self._failures = dict.fromkeys(urls, _FAILURES_TO_DOWN - 1)
        self._next = 0
        self._metrics = metrics
        for url in urls:
            metrics.gateway_up.labels(url).set(1)

    @property
    def healthy_count(self) -> int:
        return sum(self._healthy.values())

    def order(self) -> Iterator[str]:
        """Every gateway once, healthy ones first, starting at the round-robin position."""
        start = self._next
        self._next = (self._next + 1) % len(self.urls)
        rotated = self.urls[start:] + self.urls[:start]
        yield from (u for u in rotated if self._healthy[u])
        yield from (u for u in rotated if not self._healthy[u])

    def report_unreachable(self, url: str) -> None:
        """A request found no connection to `url` (after its retries): one failure toward down."""
        self._failed(url)

    def _failed(self, url: str) -> None:
        self._failures[url] += 1
        if self._failures[url] >= _FAILURES_TO_DOWN:
            self._set(url, False)

    def _answered(self, url: str) -> None:
        self._failures[url] = 0
        self._set(url, True)

    def _set(self, url: str, healthy: bool) -> None:
        if self._healthy[url] != healthy:
            log.warning("gateway health changed", extra=log_fields(gateway=url, healthy=healthy))
            self._healthy[url] = healthy
            self._metrics.gateway_up.labels(url).set(1 if healthy else 0)

    async def probe_all(self, session: aiohttp.ClientSession) -> None:
        await asyncio.gather(*(self._probe(session, url) for url in self.urls))

    async def _probe(self, session: aiohttp.ClientSession, url: str) -> None:
        try:
            async with session.get(url + "/health", timeout=_PROBE_TIMEOUT) as resp:
                healthy = resp.status < 500
        except (aiohttp.ClientError, TimeoutError):
            healthy = False
        if healthy:
            self._answered(url)
        else:
            self._failed(url)

    async def run_probes(self, session: aiohttp.ClientSession, interval: float) -> None:
        """Background task: probe every gateway each `interval` seconds until cancelled."""
        while True:
            await self.probe_all(session)
            await asyncio.sleep(interval)

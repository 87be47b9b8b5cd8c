"""The gateway replicas, one per resolved address: least in-flight balancing, outlier ejection, probes.

Each `GATEWAY_URLS` name is resolved to all its addresses (`resolve.py`) and again every
`GATEWAY_RESOLVE_INTERVAL_SECONDS`; when resolution fails the last known addresses stay. A request goes to
the admitted address with the fewest requests in flight (ties in turn), and on a connection failure before
any answer to the next one. Health is per address (Envoy-style consecutive-failure outlier detection):
`_FAILURES_TO_EJECT` failures in a row — failed probes, or requests that found no connection — eject the
address for at least `GATEWAY_EJECT_SECONDS`; the first good probe after that readmits it. An address
ejected again before it answered once after its readmission (it flaps) stays out twice as long each time,
up to `_MAX_EJECT_FACTOR` times. An address that never answered yet is out from its first failure until
its first good probe, and is probed every `_STARTING_PROBE_SECONDS` for its first `_STARTING_SECONDS`: a
router started with its gateways is ready a moment after they are, not a health interval later. The
router is ready while some address is admitted: one replica restarting never takes readiness down.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import aiohttp
from prometheus_client import Gauge

from services.router.metrics import RouterMetrics
from services.router.resolve import GatewayName, Resolve
from shared.logging import log_fields
from shared.metrics import retire_series, series

log = logging.getLogger(__name__)

_PROBE_TIMEOUT = aiohttp.ClientTimeout(total=5.0)
#: failures in a row before an address is ejected (a busy gateway answers slowly, not never)
_FAILURES_TO_EJECT = 3
#: the longest ejection, as a multiple of the first
_MAX_EJECT_FACTOR = 8
#: an address that never answered is probed this often for this long after it was first seen (it is
#: starting: `make run`, a pod scaled up), then at the health interval like the others
_STARTING_PROBE_SECONDS = 0.25
_STARTING_SECONDS = 60.0
#: numbers the requests sent, for round robin among addresses with as many in flight
_sends = itertools.count(1)


@dataclass(eq=False)
class Address:
    """One replica of a gateway: where requests connect, how many are in flight, its health."""

    gateway: GatewayName
    ip: str
    up_gauge: Gauge
    inflight_gauge: Gauge
    seen_at: float  # when resolution first gave it (the router's clock)
    in_flight: int = 0
    failures: int = 0
    proven: bool = False  # has answered once; until then one failure takes it out, with no backoff
    ejected_until: float | None = None  # None while admitted
    ejections: int = 0  # ejections in a row (the backoff exponent)
    last_sent: int = 0  # when a request last went here, in `_sends` order (ties go to the longest unused)
    base: str = field(init=False)

    def __post_init__(self) -> None:
        self.base = self.gateway.base(self.ip)
        self.up_gauge.set(1)

    @property
    def admitted(self) -> bool:
        return self.ejected_until is None

    @property
    def server_hostname(self) -> str | None:
        """The name TLS checks the certificate against (SNI): the gateway's, not the address."""
        return self.gateway.host if self.gateway.scheme == "https" else None

    def begin(self) -> None:
        self.in_flight += 1
        self.last_sent = next(_sends)
        self.inflight_gauge.set(self.in_flight)

    def end(self) -> None:
        self.in_flight -= 1
        self.inflight_gauge.set(self.in_flight)


class Gateways:
    """Every known address of every gateway name, and which of them are admitted."""

    def __init__(
        self,
        urls: list[str],
        metrics: RouterMetrics,
        resolve: Resolve,
        *,
        eject_seconds: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not urls:
            raise ValueError("at least one gateway URL is required")
        self.names = [GatewayName.parse(url) for url in urls]
        self._addresses: dict[GatewayName, dict[str, Address]] = {name: {} for name in self.names}
        self._resolve = resolve
        self._eject_seconds = eject_seconds
        self._clock = clock
        self._metrics = metrics
        for name in self.names:
            metrics.gateway_up.labels(name.url).set(0)

    @property
    def healthy_count(self) -> int:
        """Admitted addresses over every gateway name (readiness needs one)."""
        return sum(a.admitted for a in self.addresses())

    def addresses(self) -> list[Address]:
        return [a for known in self._addresses.values() for a in known.values()]

    def order(self) -> list[Address]:
        """Every address once: admitted ones by fewest in flight, ties to the longest unused (round
        robin), then ejected ones, soonest readmitted first (a last resort when nothing admitted answers)."""
        every = self.addresses()
        admitted = sorted((a for a in every if a.admitted), key=lambda a: (a.in_flight, a.last_sent))
        ejected = sorted((a for a in every if not a.admitted), key=lambda a: a.ejected_until or 0.0)
        return admitted + ejected

    def failed(self, address: Address) -> None:
        """A failed probe, or a request that found no connection to `address`: one failure toward ejection."""
        address.failures += 1
        if not address.proven:  # never answered (not up yet, or just resolved): out until its first answer
            if address.admitted:
                self._eject(address, 0.0, starting=True)
        elif address.admitted and address.failures >= _FAILURES_TO_EJECT:
            self._eject(address)

    def answered(self, address: Address, *, probe: bool = False) -> None:
        """`address` answered: failures forgotten; readmitted if ejected (a probe only once the ejection
        is over; a request answered by an ejected address proves it is back)."""
        address.failures = 0
        first, address.proven = not address.proven, True
        if address.admitted:
            address.ejections = 0
            return
        if probe and self._clock() < (address.ejected_until or 0.0):
            return
        address.ejected_until = None
        address.up_gauge.set(1)
        where = log_fields(gateway=address.gateway.url, address=address.ip)
        if first:  # it was starting: nothing an operator has to look at
            log.info("gateway address answering", extra=where)
        else:
            log.warning("gateway address readmitted", extra=where)
        self._gauge_name(address.gateway)

    def _eject(self, address: Address, seconds: float | None = None, *, starting: bool = False) -> None:
        """Out for `seconds` (the backoff when None); `starting`: it never answered, an info line says so
        instead of the ejection warning."""
        if seconds is None:
            seconds = self._eject_seconds * min(2**address.ejections, _MAX_EJECT_FACTOR)
            address.ejections += 1
        address.ejected_until = self._clock() + seconds
        address.up_gauge.set(0)
        gateway, ip = address.gateway.url, address.ip
        if starting:
            log.info("gateway address not answering yet", extra=log_fields(gateway=gateway, address=ip))
        else:
            log.warning(
                "gateway address ejected", extra=log_fields(gateway=gateway, address=ip, seconds=seconds)
            )
        self._gauge_name(address.gateway)

    def probe_delay(self, interval: float) -> float:
        """Seconds to the next round of probes: sooner while an address seen lately has never answered."""
        recent = self._clock() - _STARTING_SECONDS
        starting = any(not a.proven and a.seen_at > recent for a in self.addresses())
        return min(interval, _STARTING_PROBE_SECONDS) if starting else interval

    def _gauge_name(self, name: GatewayName) -> None:
        up = any(a.admitted for a in self._addresses[name].values())
        self._metrics.gateway_up.labels(name.url).set(1 if up else 0)

    async def resolve_all(self) -> list[Address]:
        """Resolve every name again; returns the addresses new since the last time."""
        found = await asyncio.gather(*(self._resolve_name(name) for name in self.names))
        return [a for new in found for a in new]

    async def _resolve_name(self, name: GatewayName) -> list[Address]:
        known = self._addresses[name]
        if known and name.is_literal:
            return []
        try:
            ips = await self._resolve(name.host)
        except OSError as exc:
            log.warning(
                "gateway name not resolved; keeping its last addresses",
                extra=log_fields(gateway=name.url, known=len(known), error=repr(exc)),
            )
            return []
        gone = [known.pop(ip) for ip in list(known) if ip not in ips]
        for address in gone:
            self._retire(address)
        new = [self._add(name, ip) for ip in ips if ip not in known]
        for address in new:
            known[address.ip] = address
        if new or gone:
            log.info("gateway addresses", extra=log_fields(gateway=name.url, addresses=",".join(known)))
        self._gauge_name(name)
        return new

    def _add(self, name: GatewayName, ip: str) -> Address:
        return Address(
            name,
            ip,
            series(self._metrics.gateway_address_up, name.url, ip),
            series(self._metrics.gateway_address_inflight, name.url, ip),
            self._clock(),
        )

    def _retire(self, address: Address) -> None:
        """An address DNS no longer gives: no new requests; those in flight finish; its metrics go."""
        for gauge in (self._metrics.gateway_address_up, self._metrics.gateway_address_inflight):
            retire_series(gauge, address.gateway.url, address.ip)

    async def probe_all(self, session: aiohttp.ClientSession) -> None:
        await self.probe(session, self.addresses())

    async def probe(self, session: aiohttp.ClientSession, addresses: list[Address]) -> None:
        await asyncio.gather(*(self._probe(session, a) for a in addresses))

    async def _probe(self, session: aiohttp.ClientSession, address: Address) -> None:
        try:
            async with session.get(
                address.base + "/ready",
                headers={"Host": address.gateway.host_header},
                timeout=_PROBE_TIMEOUT,
                server_hostname=address.server_hostname,
            ) as resp:
                healthy = resp.status < 500
        except (aiohttp.ClientError, TimeoutError):
            healthy = False
        if healthy:
            self.answered(address, probe=True)
        else:
            self.failed(address)

    async def start(self, session: aiohttp.ClientSession) -> None:
        """At startup: resolve every name and probe what it gives."""
        await self.resolve_all()
        await self.probe_all(session)

    async def run_probes(self, session: aiohttp.ClientSession, interval: float) -> None:
        """Background task: probe every address each `interval` seconds until cancelled."""
        while True:
            await self.probe_all(session)
            await asyncio.sleep(self.probe_delay(interval))

    async def run_resolution(self, session: aiohttp.ClientSession, interval: float, retry: float) -> None:
        """Background task: resolve every name each `interval` seconds (each `retry` seconds while a name
        has no address yet) and probe new addresses at once."""
        while True:
            await asyncio.sleep(retry if any(not known for known in self._addresses.values()) else interval)
            new = await self.resolve_all()
            if new:
                await self.probe(session, new)

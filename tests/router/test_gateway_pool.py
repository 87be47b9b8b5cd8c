"""Gateway addresses in the router: least in-flight choice, per-address ejection, resolution, Host and SNI."""

from __future__ import annotations

import datetime
import ipaddress
import ssl
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from services.router.gateways import Address, Gateways
from services.router.metrics import RouterMetrics
from services.router.resolve import GatewayName, read_hosts, resolver
from services.router.settings import RouterSettings
from shared.errors import ConfigError
from shared.metrics import exposition, new_registry
from tests.support.procs import free_port

URL = "http://kiro-gw:8000"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Names:
    """A resolver the test edits: name → addresses, or an OSError when `failing`."""

    def __init__(self, **names: list[str]) -> None:
        self.names = {k.replace("_", "-"): v for k, v in names.items()}
        self.failing = False

    async def __call__(self, host: str) -> list[str]:
        if self.failing:
            raise OSError("name resolution failed")
        return list(self.names[host])


async def pool(
    names: Names, clock: Clock, *urls: str, metrics: RouterMetrics | None = None
) -> tuple[Gateways, dict[str, Address]]:
    gateways = Gateways(
        list(urls or [URL]), metrics or RouterMetrics(new_registry()), names, eject_seconds=5.0, clock=clock
    )
    await gateways.resolve_all()
    by_ip = {a.ip: a for a in gateways.addresses()}
    for address in by_ip.values():
        gateways.answered(address, probe=True)  # every replica answered its first probe
    return gateways, by_ip


async def test_a_request_goes_to_the_address_with_the_fewest_in_flight() -> None:
    gateways, by_ip = await pool(Names(kiro_gw=["10.0.0.1", "10.0.0.2", "10.0.0.3"]), Clock())
    for ip, busy in (("10.0.0.1", 2), ("10.0.0.2", 0), ("10.0.0.3", 1)):
        for _ in range(busy):
            by_ip[ip].begin()

    assert [a.ip for a in gateways.order()] == ["10.0.0.2", "10.0.0.3", "10.0.0.1"]


async def test_addresses_with_as_many_in_flight_take_turns() -> None:
    gateways, _ = await pool(Names(kiro_gw=["10.0.0.1", "10.0.0.2", "10.0.0.3"]), Clock())
    chosen = []
    for _ in range(6):
        first = gateways.order()[0]
        first.begin()
        first.end()
        chosen.append(first.ip)

    assert sorted(chosen) == ["10.0.0.1", "10.0.0.1", "10.0.0.2", "10.0.0.2", "10.0.0.3", "10.0.0.3"]
    assert chosen[:3] == chosen[3:]


async def test_one_failure_never_ejects_a_replica_and_three_in_a_row_do() -> None:
    gateways, by_ip = await pool(Names(kiro_gw=["10.0.0.1", "10.0.0.2"]), Clock())
    flaky = by_ip["10.0.0.1"]
    gateways.failed(flaky)
    gateways.failed(flaky)
    assert flaky.admitted and gateways.healthy_count == 2
    gateways.answered(flaky)
    gateways.failed(flaky)
    gateways.failed(flaky)
    assert flaky.admitted  # the answer between reset the count

    gateways.failed(flaky)

    assert not flaky.admitted
    assert gateways.healthy_count == 1
    assert [a.ip for a in gateways.order()] == ["10.0.0.2", "10.0.0.1"]  # ejected: a last resort only


async def test_an_ejected_address_is_readmitted_by_a_good_probe_once_its_ejection_is_over() -> None:
    clock = Clock()
    gateways, by_ip = await pool(Names(kiro_gw=["10.0.0.1", "10.0.0.2"]), clock)
    down = by_ip["10.0.0.1"]
    for _ in range(3):
        gateways.failed(down)
    clock.now += 4.9
    gateways.answered(down, probe=True)
    assert not down.admitted

    clock.now += 0.1
    gateways.answered(down, probe=True)

    assert down.admitted


async def test_a_replica_that_flaps_stays_out_twice_as_long_each_time() -> None:
    clock = Clock()
    gateways, by_ip = await pool(Names(kiro_gw=["10.0.0.1", "10.0.0.2"]), clock)
    flapping = by_ip["10.0.0.1"]
    outs = []
    for _ in range(5):
        for _ in range(3):
            gateways.failed(flapping)
        assert flapping.ejected_until is not None
        outs.append(flapping.ejected_until - clock.now)
        clock.now = flapping.ejected_until
        gateways.answered(flapping, probe=True)  # readmitted, then fails again before its next probe

    assert outs == [5.0, 10.0, 20.0, 40.0, 40.0]
    gateways.answered(flapping, probe=True)  # a good probe while admitted: it is steady again
    for _ in range(3):
        gateways.failed(flapping)
    assert flapping.ejected_until == clock.now + 5.0


async def test_an_address_that_never_answered_is_out_from_its_first_failure_until_it_answers() -> None:
    clock = Clock()
    gateways = Gateways([URL], RouterMetrics(new_registry()), Names(kiro_gw=["10.0.0.1"]), clock=clock)
    await gateways.resolve_all()
    (starting,) = gateways.addresses()

    gateways.failed(starting)
    assert gateways.healthy_count == 0
    gateways.answered(starting, probe=True)

    assert gateways.healthy_count == 1


async def test_a_starting_address_is_probed_often_until_it_answers_or_a_minute_has_passed() -> None:
    """A router started with its gateways is ready a moment after they are, not a health interval later."""
    clock = Clock()
    names = Names(kiro_gw=["10.0.0.1"])
    gateways = Gateways([URL], RouterMetrics(new_registry()), names, clock=clock)
    await gateways.resolve_all()
    (starting,) = gateways.addresses()
    gateways.failed(starting)
    assert gateways.probe_delay(5.0) == 0.25

    gateways.answered(starting, probe=True)
    assert gateways.probe_delay(5.0) == 5.0  # up: the health interval

    names.names["kiro-gw"].append("10.0.0.2")  # scaled up: the new replica is probed often too
    await gateways.resolve_all()
    assert gateways.probe_delay(5.0) == 0.25
    clock.now += 61  # one that never comes up is not probed four times a second for ever
    assert gateways.probe_delay(5.0) == 5.0
    assert gateways.probe_delay(0.1) == 0.1  # never slower than the interval set


async def test_a_failed_resolution_keeps_the_last_addresses() -> None:
    names = Names(kiro_gw=["10.0.0.1", "10.0.0.2"])
    gateways, _ = await pool(names, Clock())
    names.failing = True

    assert await gateways.resolve_all() == []
    assert sorted(a.ip for a in gateways.order()) == ["10.0.0.1", "10.0.0.2"]
    assert gateways.healthy_count == 2


async def test_resolving_again_adds_new_replicas_and_drops_gone_ones_with_their_metrics() -> None:
    names = Names(kiro_gw=["10.0.0.1", "10.0.0.2"])
    metrics = RouterMetrics(new_registry())
    gateways, by_ip = await pool(names, Clock(), metrics=metrics)
    by_ip["10.0.0.2"].begin()  # a request still in flight to the replica that goes away
    names.names["kiro-gw"] = ["10.0.0.1", "10.0.0.3"]

    new = await gateways.resolve_all()
    by_ip["10.0.0.2"].end()

    assert [a.ip for a in new] == ["10.0.0.3"]
    assert sorted(a.ip for a in gateways.order()) == ["10.0.0.1", "10.0.0.3"]
    text = exposition(metrics.registry)[0].decode()
    assert 'address="10.0.0.3"' in text
    assert 'address="10.0.0.2"' not in text


async def test_readiness_and_the_gateway_gauge_need_one_admitted_address_of_the_name() -> None:
    metrics = RouterMetrics(new_registry())
    gateways, by_ip = await pool(Names(kiro_gw=["10.0.0.1", "10.0.0.2"]), Clock(), metrics=metrics)
    for address in by_ip.values():
        for _ in range(3):
            gateways.failed(address)
            up = 'kiro_router_gateway_up{gateway="http://kiro-gw:8000"} 1.0'
            assert (up in exposition(metrics.registry)[0].decode()) == (gateways.healthy_count > 0)

    assert gateways.healthy_count == 0


def test_a_gateway_url_keeps_its_name_for_host_and_its_port_for_every_address() -> None:
    plain = GatewayName.parse("http://gateway:8000")
    tls = GatewayName.parse("https://gw.example.com")
    literal = GatewayName.parse("http://[::1]:9000")

    assert (plain.host_header, plain.base("10.1.2.3")) == ("gateway:8000", "http://10.1.2.3:8000")
    assert (tls.host_header, tls.base("10.1.2.3")) == ("gw.example.com", "https://10.1.2.3:443")
    assert (literal.host_header, literal.base("::1"), literal.is_literal) == (
        "[::1]:9000",
        "http://[::1]:9000",
        True,
    )
    with pytest.raises(ValueError, match="path"):
        GatewayName.parse("http://gateway:8000/v1")


async def test_names_in_the_hosts_file_resolve_from_it_and_others_through_dns(tmp_path: Path) -> None:
    hosts = tmp_path / "hosts"
    hosts.write_text("# replicas\n127.0.0.2 kiro-gw other\n127.0.0.3 kiro-gw  # second\nbad-line\n")

    async def dns(host: str) -> list[str]:
        return [f"dns:{host}"]

    resolve = resolver(str(hosts), dns)
    assert await resolve("KIRO-GW") == ["127.0.0.2", "127.0.0.3"]
    assert await resolve("elsewhere") == ["dns:elsewhere"]
    hosts.write_text("127.0.0.4 kiro-gw\n")
    assert await resolve("kiro-gw") == ["127.0.0.4"]  # read again: an edit applies
    hosts.unlink()
    with pytest.raises(OSError):
        await resolve("kiro-gw")
    assert read_hosts("127.0.0.9 a b\n") == {"a": ["127.0.0.9"], "b": ["127.0.0.9"]}


def _certificate(name: str, folder: Path) -> tuple[Path, Path]:
    """A self-signed certificate for `name` only (not for any IP address)."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=1))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = folder / "cert.pem", folder / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return cert_file, key_file


class TlsReplica:
    """An HTTPS server on 127.0.0.2 with a certificate for `kiro-gw.test`; records Host and SNI."""

    def __init__(self) -> None:
        self.hosts: list[str] = []
        self.server_names: list[str | None] = []
        self.port = free_port()

    async def ready(self, request: web.Request) -> web.Response:
        self.hosts.append(request.headers["Host"])
        return web.json_response({"status": "ready"})


@pytest.fixture
async def tls_replica(tmp_path: Path) -> AsyncIterator[tuple[TlsReplica, Path]]:
    replica = TlsReplica()
    cert_file, key_file = _certificate("kiro-gw.test", tmp_path)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert_file, key_file)
    context.sni_callback = lambda sock, name, ctx: replica.server_names.append(name)  # type: ignore[assignment,misc]
    app = web.Application()
    app.router.add_get("/ready", replica.ready)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.2", replica.port, ssl_context=context).start()
    yield replica, cert_file
    await runner.cleanup()


async def test_an_https_gateway_is_reached_by_address_with_its_name_as_host_and_tls_server_name(
    tls_replica: tuple[TlsReplica, Path],
) -> None:
    replica, cert_file = tls_replica
    url = f"https://kiro-gw.test:{replica.port}"
    gateways = Gateways([url], RouterMetrics(new_registry()), Names(**{"kiro-gw.test": ["127.0.0.2"]}))
    trust = ssl.create_default_context(cafile=str(cert_file))
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=trust)) as session:
        await gateways.start(session)

    assert gateways.healthy_count == 1  # the certificate was checked against the name, not 127.0.0.2
    assert replica.server_names == ["kiro-gw.test"]
    assert replica.hosts == [f"kiro-gw.test:{replica.port}"]
    assert ipaddress.ip_address(gateways.addresses()[0].ip) == ipaddress.ip_address("127.0.0.2")


@pytest.mark.parametrize(
    ("urls", "why"), [("http://gw:8000/v1", "path"), ("gw:8000", "http"), (" , ", "no gateway")]
)
def test_a_gateway_url_that_cannot_be_balanced_refuses_to_start(urls: str, why: str, secret_key: str) -> None:
    with pytest.raises(ConfigError, match=why):
        RouterSettings.load(
            gateway_urls=urls, kiro_secret_key=secret_key, internal_api_key="internal", _env_file=None
        )

"""Find a Redis for the stack: the configured one, a private `redis-server`, or an embedded fake."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import redis
from redis.sentinel import Sentinel

from shared.errors import ConfigError
from shared.redis_location import Topology, parse_redis_url

DEFAULT_URL = "redis://127.0.0.1:6379/0"

EMBEDDED_WARNING = """
################################################################################
#  WARNING: no Redis server found. Using an EMBEDDED in-memory Redis (fakeredis).
#  Everything you store (accounts, keys, settings) is LOST when the stack stops.
#  Install Redis (apt-get install redis-server) or set REDIS_URL for real use.
################################################################################
"""


def sync_client(url: str, timeout: float | None = None) -> redis.Redis:
    """A plain client of `url` (a Sentinel URL: of the primary the sentinels name now)."""
    location = parse_redis_url(url)
    if location.topology is Topology.STANDALONE:
        return redis.Redis.from_url(url, socket_connect_timeout=timeout, socket_timeout=timeout)
    if location.topology is Topology.CLUSTER:
        raise ConfigError("the launcher cannot use a Redis Cluster (docs/architecture.md, Redis topologies)")
    options = {"socket_connect_timeout": timeout, "socket_timeout": timeout, "ssl": location.tls}
    sentinel = Sentinel(list(location.nodes), **options)  # type: ignore[no-untyped-call]
    return sentinel.master_for(  # type: ignore[no-untyped-call,no-any-return]
        location.service, db=location.db, username=location.username, password=location.password
    )


def answers(url: str, timeout: float = 0.5) -> bool:
    client = sync_client(url, timeout)
    try:
        return bool(client.ping())
    except (redis.ConnectionError, redis.TimeoutError, OSError):
        return False
    finally:
        client.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class RedisHandle:
    """A Redis the launcher found or started; `stop()` ends what it started."""

    url: str
    kind: str  # configured | private | embedded
    process: subprocess.Popen[bytes] | None = None
    server: object | None = None
    notes: list[str] = field(default_factory=list)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
        if self.server is not None:
            self.server.shutdown()  # type: ignore[attr-defined]


def start_private(data_dir: Path | None, *, daemonize: bool = False) -> RedisHandle | None:
    """A `redis-server` of our own on a free port; persistent (AOF) when `data_dir` is given."""
    binary = shutil.which("redis-server")
    if binary is None:
        return None
    port = free_port()
    args = [binary, "--bind", "127.0.0.1", "--port", str(port), "--save", ""]
    if data_dir is not None:
        data_dir.mkdir(parents=True, exist_ok=True)
        args += ["--dir", str(data_dir), "--appendonly", "yes"]
    else:
        args += ["--appendonly", "no"]
    if daemonize:
        args += ["--daemonize", "yes"]
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"redis://127.0.0.1:{port}/0"
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if answers(url):
            return RedisHandle(url, "private", None if daemonize else proc)
        time.sleep(0.05)
    proc.kill()
    return None


def _teach_fakeredis_info() -> None:
    """arq's worker starts by reading `INFO`, which fakeredis lacks; answer it with a minimal report."""
    from fakeredis._commands import command
    from fakeredis._socket._fakesocket import FakeSocket

    if hasattr(FakeSocket, "info"):
        return

    @command((), (bytes,))
    def info(self: FakeSocket, *sections: bytes) -> bytes:
        return b"\r\n".join(
            [b"# Server", b"redis_version:7.0.0-embedded", b"# Memory", b"used_memory:0", b"# Clients", b""]
        )

    setattr(FakeSocket, "info", info)  # noqa: B010 - a command fakeredis looks up by name


def start_embedded() -> RedisHandle:
    from fakeredis import TcpFakeServer

    _teach_fakeredis_info()
    port = free_port()
    server = TcpFakeServer(("127.0.0.1", port), server_type="redis")
    threading.Thread(target=server.serve_forever, name="embedded-redis", daemon=True).start()
    return RedisHandle(f"redis://127.0.0.1:{port}/0", "embedded", server=server)


def ensure_redis(
    url: str | None, data_dir: Path | None, *, allow_embedded: bool, daemonize: bool
) -> RedisHandle:
    """The configured Redis if it answers, else a private one, else (if allowed) an embedded one."""
    url = url or DEFAULT_URL
    if answers(url):
        return RedisHandle(url, "configured")
    private = start_private(data_dir, daemonize=daemonize)
    if private is not None:
        private.notes.append(f"{url} did not answer; started a private redis-server at {private.url}")
        return private
    if not allow_embedded:
        print(
            f"no Redis answers at {url} and redis-server is not installed "
            "(apt-get install redis-server, or set REDIS_URL)",
            file=sys.stderr,
        )
        raise SystemExit(2)
    handle = start_embedded()
    handle.notes.append(EMBEDDED_WARNING)
    return handle

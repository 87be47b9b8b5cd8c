"""Real Redis topologies on loopback for tests: a Sentinel group and a 3-primary Cluster.

Both are made of `redis-server` processes (a sentinel is `redis-server <conf> --sentinel`, what the
`redis-sentinel` command runs) on free ports with their data in temp dirs; the shared Redis at 6379 is
never touched.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import redis as sync_redis

from tests.support.procs import free_port
from tests.support.redis_server import PrivateRedis

SERVICE = "kst-primary"
#: a primary starts a replica's full sync at once (by default it waits 5 s for more replicas to join)
SYNC_AT_ONCE = ("--repl-diskless-sync-delay", "0")


def _wait(check: Callable[[], bool], what: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except (sync_redis.ConnectionError, sync_redis.TimeoutError, OSError):
            pass
        time.sleep(0.05)
    raise RuntimeError(f"{what}: not after {timeout}s")


def _client(port: int) -> sync_redis.Redis:
    return sync_redis.Redis(port=port, socket_timeout=1, socket_connect_timeout=1, decode_responses=True)


def _ask(port: int, *command: object) -> Any:
    """One command to the server on `port` (its connection closed after)."""
    client = _client(port)
    try:
        return client.execute_command(*command)
    finally:
        client.close()


class Sentinel:
    """One sentinel process watching `SERVICE` (quorum 2, primary down after 1 s)."""

    def __init__(self, primary_port: int) -> None:
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="test-sentinel-"))
        self.conf = self.dir / "sentinel.conf"
        self.conf.write_text(
            f"port {self.port}\nbind 127.0.0.1\ndir {self.dir}\n"
            f"sentinel monitor {SERVICE} 127.0.0.1 {primary_port} 2\n"
            f"sentinel down-after-milliseconds {SERVICE} 1000\n"
            f"sentinel failover-timeout {SERVICE} 10000\n"
            f"sentinel parallel-syncs {SERVICE} 1\n"
        )
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> Sentinel:
        binary = shutil.which("redis-server")
        assert binary is not None, "redis-server is not installed (make system-deps)"
        with open(self.dir / "sentinel.log", "ab") as log:
            self.proc = subprocess.Popen(
                [binary, str(self.conf), "--sentinel"], stdout=log, stderr=subprocess.STDOUT
            )
        return self

    def master(self) -> dict[str, str]:
        flat = _ask(self.port, "SENTINEL", "MASTER", SERVICE)
        return dict(zip(flat[::2], flat[1::2], strict=True))

    def primary_address(self) -> tuple[str, int] | None:
        address = _ask(self.port, "SENTINEL", "GET-MASTER-ADDR-BY-NAME", SERVICE)
        return (str(address[0]), int(address[1])) if address else None

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)
        shutil.rmtree(self.dir, ignore_errors=True)


class SentinelGroup:
    """A primary, one replica and three sentinels; `url` is the `redis+sentinel://` address of it."""

    def __init__(self) -> None:
        self.primary = PrivateRedis(args=SYNC_AT_ONCE)
        self.replica: PrivateRedis | None = None
        self.sentinels: list[Sentinel] = []

    @property
    def url(self) -> str:
        hosts = ",".join(f"127.0.0.1:{s.port}" for s in self.sentinels)
        return f"redis+sentinel://{hosts}/{SERVICE}/0"

    def start(self) -> SentinelGroup:
        self.primary.start()
        # the replica too: after a failover it is the primary others sync from
        self.replica = PrivateRedis(args=(*SYNC_AT_ONCE, "--replicaof", "127.0.0.1", str(self.primary.port)))
        self.replica.start()
        port = self.replica.port
        _wait(lambda: _ask(port, "INFO", "replication")["master_link_status"] == "up", "replica in sync")
        self.sentinels = [Sentinel(self.primary.port).start() for _ in range(3)]
        # a failover needs every sentinel to know the replica and the two other sentinels
        _wait(
            lambda: all(
                m["num-other-sentinels"] == "2" and m["num-slaves"] == "1"
                for m in (s.master() for s in self.sentinels)
            ),
            "sentinels know each other and the replica",
        )
        return self

    def primary_port(self) -> int | None:
        """The primary the sentinels name now (None while none does)."""
        for sentinel in self.sentinels:
            try:
                address = sentinel.primary_address()
            except (sync_redis.ConnectionError, sync_redis.TimeoutError, OSError):
                continue
            if address is not None:
                return address[1]
        return None

    def replicate(self, timeout_ms: int = 5000) -> int:
        """`WAIT 1`: block until the replica has every write made so far; returns replicas that have."""
        return int(_ask(self.primary.port, "WAIT", 1, timeout_ms))

    def stop(self) -> None:
        for sentinel in self.sentinels:
            sentinel.stop()
        if self.replica is not None:
            self.replica.stop()
        self.primary.stop()

    def __enter__(self) -> SentinelGroup:
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _low_free_port() -> int:
    """A free port Redis accepts for a Cluster node (it refuses ports above 55535)."""
    while (port := free_port()) > 55535:
        pass
    return port


class ClusterGroup:
    """Three primaries, no replicas, every slot assigned; `url` is its `redis+cluster://` address."""

    def __init__(self, size: int = 3) -> None:
        args = (
            "--cluster-enabled",
            "yes",
            "--cluster-config-file",
            "nodes.conf",
            "--cluster-node-timeout",
            "2000",
        )
        # Redis refuses a Cluster node port above 55535; the bus port is a free one of its own
        self.nodes = [
            PrivateRedis(port=_low_free_port(), args=(*args, "--cluster-port", str(free_port())))
            for _ in range(size)
        ]

    @property
    def url(self) -> str:
        return "redis+cluster://" + ",".join(f"127.0.0.1:{n.port}" for n in self.nodes)

    def start(self) -> ClusterGroup:
        for node in self.nodes:
            node.start()
        cli = shutil.which("redis-cli")
        assert cli is not None, "redis-cli is not installed (make system-deps)"
        addresses = [f"127.0.0.1:{n.port}" for n in self.nodes]
        subprocess.run(
            [cli, "--cluster", "create", *addresses, "--cluster-replicas", "0", "--cluster-yes"],
            check=True,
            capture_output=True,
            timeout=30,
        )
        _wait(
            lambda: all("cluster_state:ok" in str(_ask(n.port, "CLUSTER", "INFO")) for n in self.nodes),
            "cluster state ok",
        )
        return self

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()

    def __enter__(self) -> ClusterGroup:
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *exc: object) -> None:
        self.stop()

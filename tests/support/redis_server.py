"""A private `redis-server` on a free loopback port that a test may kill, pause, stall or restart.

The shared Redis at 6379 must never be stopped or flushed; fault tests start one of these instead.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import redis as sync_redis

from tests.support.procs import free_port


class PrivateRedis:
    """`redis-server` with its data in a temp dir; `aof=True` keeps every write (appendfsync always)."""

    def __init__(self, *, aof: bool = False, port: int | None = None, args: tuple[str, ...] = ()) -> None:
        self.port = port or free_port()
        self.aof = aof
        self.args = args  # more redis-server options (replicaof, cluster-enabled…)
        self.dir = Path(tempfile.mkdtemp(prefix="chaos-redis-"))
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 10.0) -> PrivateRedis:
        binary = shutil.which("redis-server")
        if binary is None:  # pragma: no cover - make test installs it
            raise RuntimeError("redis-server is not installed (make system-deps)")
        args = [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.dir), "--save", ""]
        args += ["--appendonly", "yes", "--appendfsync", "always"] if self.aof else ["--appendonly", "no"]
        args += self.args
        with open(self.dir / "redis.log", "ab") as log:  # the child keeps its own copy of the descriptor
            self.proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT)
        self.wait_answering(timeout)
        return self

    def answers(self) -> bool:
        client = sync_redis.Redis(port=self.port, socket_timeout=0.3, socket_connect_timeout=0.3)
        try:
            return bool(client.ping())
        except (sync_redis.ConnectionError, sync_redis.TimeoutError, OSError):
            return False
        finally:
            client.close()

    def wait_answering(self, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.answers():
                return
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(f"redis-server exited: {self.logs()}")
            time.sleep(0.02)
        raise RuntimeError(f"private redis on {self.port} not answering after {timeout}s")

    def kill(self) -> None:
        """SIGKILL: connections reset, nothing flushed beyond what AOF already has."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGCONT)
            self.proc.kill()
            self.proc.wait(5)

    def restart(self) -> None:
        """Start again on the same port and data dir (AOF reloads what was written)."""
        self.kill()
        self.start()

    def pause(self) -> None:
        """SIGSTOP: connections stay open, nothing answers (the worst case for clients)."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGCONT)

    def client_pause(self, seconds: float) -> None:
        """`CLIENT PAUSE`: Redis holds every client's commands for `seconds`."""
        client = sync_redis.Redis(port=self.port)
        try:
            client.execute_command("CLIENT", "PAUSE", int(seconds * 1000), "ALL")
        finally:
            client.close()

    def logs(self) -> str:
        path = self.dir / "redis.log"
        return path.read_text(errors="replace")[-4000:] if path.exists() else ""

    def stop(self) -> None:
        self.kill()
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> PrivateRedis:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def rss_kib(pid: int) -> tuple[int, int]:
    """(VmRSS, VmHWM) of a process in KiB, from /proc."""
    values = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, rest = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            values[name] = int(rest.split()[0])
    return values["VmRSS"], values["VmHWM"]


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")

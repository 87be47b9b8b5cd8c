"""Start real service processes for tests: free ports, health wait, logs kept for failure reports."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]


#: every port `free_port` gave out in this process: the kernel may offer a port again once its probe socket
#: is closed, and two services of one test given the same port would answer each other's health checks
_given: set[int] = set()


def free_port() -> int:
    """A loopback port nothing listens on, never one this process was given before."""
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind(("127.0.0.1", 0))
            port = int(s.getsockname()[1])
        if port not in _given:
            _given.add(port)
            return port


class ServiceProcess:
    """`python -m <module> [args]` as a child process with its output captured to a temp file."""

    def __init__(
        self,
        module: str,
        args: list[str] | None = None,
        env: dict[str, str] | None = None,
        *,
        port: int | None = None,
        health_path: str | None = "/health",
        name: str | None = None,
        host: str = "127.0.0.1",
    ) -> None:
        self.module = module
        self.host = host  # any loopback address (127.0.0.2 …): several processes on one port
        self.port = port or free_port()
        self.args = args if args is not None else ["--host", host, "--port", str(self.port)]
        self.env = {**os.environ, **(env or {}), "PYTHONUNBUFFERED": "1"}
        self.health_path = health_path
        self.name = name or module.rsplit(".", 1)[-1]
        self.log_file = tempfile.NamedTemporaryFile(prefix=f"{self.name}-", suffix=".log", delete=False)  # noqa: SIM115
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self, timeout: float = 30.0) -> ServiceProcess:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", self.module, *self.args],
            cwd=ROOT,
            env=self.env,
            stdout=self.log_file,
            stderr=subprocess.STDOUT,
        )
        if self.health_path is not None:
            self.wait_healthy(timeout)
        return self

    def wait_healthy(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        last: Exception | None = None
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.proc.returncode}:\n{self.logs()}")
            try:
                r = httpx.get(self.url + (self.health_path or "/"), timeout=1.0)
                if r.status_code < 500:
                    return
            except httpx.HTTPError as exc:
                last = exc
            time.sleep(0.05)
        raise RuntimeError(f"{self.name} not healthy after {timeout}s ({last}):\n{self.logs()}")

    def logs(self) -> str:
        self.log_file.flush()
        return Path(self.log_file.name).read_text(errors="replace")[-20000:]

    def count_in_logs(self, text: str) -> int:
        """How often `text` occurs in the whole log (`logs()` keeps only its end)."""
        self.log_file.flush()
        return Path(self.log_file.name).read_text(errors="replace").count(text)

    def signal(self, sig: signal.Signals) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(sig)

    def stop(self, timeout: float = 10.0) -> int | None:
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.log_file.close()
        return self.proc.returncode

    def __enter__(self) -> ServiceProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


#: starts one more refresher worker process with extra environment variables
StartWorker = Callable[..., ServiceProcess]


@contextmanager
def refresher_workers(env: dict[str, str]) -> Iterator[StartWorker]:
    """Start `python -m services.refresher worker` processes (metrics on a free port); all stopped after,
    also one a test left stopped with SIGSTOP."""
    started: list[ServiceProcess] = []

    def start(**extra: str) -> ServiceProcess:
        port = free_port()
        proc = ServiceProcess(
            "services.refresher",
            ["worker"],
            {**env, "REFRESHER_METRICS_PORT": str(port), **extra},
            port=port,
            name=f"refresher-{len(started)}",
        )
        started.append(proc)
        return proc.start()

    try:
        yield start
    finally:
        for proc in started:
            proc.signal(signal.SIGCONT)
            proc.stop()

"""`make run` and `make demo` as a newcomer meets them: real processes, real ports, real output."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.support.procs import ROOT, free_port

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def _python_only_path(tmp_path: Path) -> str:
    """A PATH on which `redis-server` cannot be found (the embedded fallback must kick in)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("python3", "env", "sh"):
        for base in ("/usr/bin", "/bin"):
            if Path(base, tool).exists():
                (bin_dir / tool).symlink_to(Path(base, tool))
                break
    return str(bin_dir)


def _wait_for_line(proc: subprocess.Popen[str], needle: str, seen: list[str], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    assert proc.stdout is not None
    os.set_blocking(proc.stdout.fileno(), False)
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if line:
            seen.append(line)
            if needle in line:
                return True
        elif proc.poll() is not None:
            return False
        else:
            time.sleep(0.05)
    return False


def test_run_without_redis_uses_embedded_store_warns_and_explains_how_to_add_an_account(
    tmp_path: Path,
) -> None:
    proc, router_port, gateway_port = _launch(
        tmp_path,
        PATH=_python_only_path(tmp_path),
        REDIS_URL=f"redis://127.0.0.1:{free_port()}/0",  # nothing listens there
    )
    seen: list[str] = []
    try:
        assert _wait_for_line(proc, "No Kiro accounts", seen, timeout=60), "".join(seen)
        output = "".join(seen)
        assert "EMBEDDED in-memory Redis" in output
        assert "admin password" in output  # generated dev secrets are shown once
        assert (tmp_path / "state" / "secrets.env").stat().st_mode & 0o077 == 0
        assert httpx.get(f"http://127.0.0.1:{router_port}/health", timeout=5).status_code == 200
        assert httpx.get(f"http://127.0.0.1:{gateway_port}/health", timeout=5).status_code == 200
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            pytest.fail("the launcher did not stop on Ctrl-C")
        finally:
            assert proc.stdout is not None
            proc.stdout.close()
    assert proc.returncode == 0, "".join(seen)
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"http://127.0.0.1:{router_port}/health", timeout=2)


def test_demo_streams_an_answer_through_router_and_gateway(redis_url: str) -> None:
    env = {**os.environ, "REDIS_URL": redis_url, "PYTHONUNBUFFERED": "1"}
    done = subprocess.run(
        [sys.executable, "-m", "services.stack", "demo"],
        check=False,
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    assert "demo account is active" in done.stdout
    assert "the router passes every byte through the moment it arrives." in done.stdout
    assert "stop_reason=end_turn" in done.stdout


def _launch(
    tmp_path: Path, run_args: tuple[str, ...] = (), **env_vars: str
) -> tuple[subprocess.Popen[str], int, int]:
    """`python -m services.stack run [run_args]` with `env_vars`, no secrets given (it generates its own),
    free ports.

    Returns the launcher process, the router port and the gateway port."""
    router_port, gateway_port, metrics_port = free_port(), free_port(), free_port()
    env = {**os.environ, **env_vars, "PYTHONUNBUFFERED": "1"}
    for name in ("KIRO_SECRET_KEY", "INTERNAL_API_KEY", "ADMIN_PASSWORD", "ADMIN_API_KEY", "PROXY_API_KEY"):
        env.pop(name, None)
    args = [
        sys.executable, "-m", "services.stack", "run",
        "--router-port", str(router_port), "--gateway-port", str(gateway_port),
        "--metrics-port", str(metrics_port), "--state-dir", str(tmp_path / "state"), *run_args,
    ]  # fmt: skip
    proc = subprocess.Popen(
        args, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    return proc, router_port, gateway_port


def _stop(proc: subprocess.Popen[str]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
    assert proc.stdout is not None
    proc.stdout.close()


def _pid_of(seen: list[str], service: str) -> int:
    found = [re.search(rf"{service} started \(pid (\d+)\)", line) for line in seen]
    pids = [int(match.group(1)) for match in found if match]
    assert pids, "".join(seen)
    return pids[-1]


def test_launcher_restarts_a_killed_service_and_says_so(
    tmp_path: Path, redis_url: str, key_prefix: str
) -> None:
    proc, router_port, gateway_port = _launch(tmp_path, REDIS_URL=redis_url, REDIS_KEY_PREFIX=key_prefix)
    seen: list[str] = []
    try:
        assert _wait_for_line(proc, "gateway : http://", seen, timeout=60), "".join(seen)
        first = _pid_of(seen, "gateway")

        os.kill(first, signal.SIGKILL)

        assert _wait_for_line(proc, "gateway exited with code -9; restarting in 1 s", seen, 20), "".join(seen)
        assert _wait_for_line(proc, "gateway started (pid", seen, 20), "".join(seen)
        assert _pid_of(seen, "gateway") != first
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"http://127.0.0.1:{gateway_port}/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        else:
            pytest.fail("the restarted gateway never answered:\n" + "".join(seen))
        assert httpx.get(f"http://127.0.0.1:{router_port}/health", timeout=5).status_code == 200
        assert proc.poll() is None
    finally:
        _stop(proc)
    assert proc.returncode == 0, "".join(seen)


def test_a_service_that_keeps_crashing_is_named_and_the_stack_stops_non_zero(
    tmp_path: Path, redis_url: str, key_prefix: str
) -> None:
    # a short backoff, capped: the crash loop takes a second instead of 1 + 2 + 4 + 8 s
    proc, router_port, gateway_port = _launch(
        tmp_path,
        ("--restart-delay", "0.1", "--restart-delay-cap", "0.4"),
        REDIS_URL=redis_url,
        REDIS_KEY_PREFIX=key_prefix,
    )
    seen: list[str] = []
    # something else holds the gateway's port: every start of the gateway fails
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", gateway_port))
        squatter.listen()
        try:
            assert _wait_for_line(proc, "gateway exited 5 times within 60 s", seen, timeout=90), "".join(seen)
            proc.wait(30)
        finally:
            _stop(proc)
    output = "".join(seen)
    assert proc.returncode == 1, output
    delays = re.findall(r"gateway exited with code \d+; restarting in ([\d.]+) s", output)
    assert delays == ["0.1", "0.2", "0.4", "0.4"], output  # doubles from --restart-delay up to its cap
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"http://127.0.0.1:{router_port}/health", timeout=2)

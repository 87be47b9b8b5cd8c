"""`make run` and `make demo` as a newcomer meets them: real processes, real ports, real output."""

from __future__ import annotations

import os
import signal
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
    router_port, gateway_port, metrics_port = free_port(), free_port(), free_port()
    env = {
        **os.environ,
        "PATH": _python_only_path(tmp_path),
        "REDIS_URL": f"redis://127.0.0.1:{free_port()}/0",  # nothing listens there
        "PYTHONUNBUFFERED": "1",
    }
    for name in ("KIRO_SECRET_KEY", "INTERNAL_API_KEY", "ADMIN_PASSWORD", "ADMIN_API_KEY", "PROXY_API_KEY"):
        env.pop(name, None)
    args = [
        sys.executable, "-m", "services.stack", "run",
        "--router-port", str(router_port), "--gateway-port", str(gateway_port),
        "--metrics-port", str(metrics_port), "--state-dir", str(tmp_path / "state"),
    ]  # fmt: skip
    proc = subprocess.Popen(
        args, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
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

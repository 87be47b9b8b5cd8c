"""DEBUG_MODE: request bodies in the log for failed requests (`errors`) or all (`all`), never with `off`."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.gateway.support import Emulator, start_gateway
from tests.support.procs import ServiceProcess

MARK = "debug-mode-marker-7f3a"
SECRET = "aorAAAAAGdebugModeRefreshToken0123456789abcdef"
LINE = "debug: request and response bodies"


def _gateway(emulator: ServiceProcess, mode: str) -> ServiceProcess:
    return start_gateway(emulator.url, DEBUG_MODE=mode)


def _post(gateway: ServiceProcess, emu: Emulator, model: str, text: str) -> httpx.Response:
    account = emu.account()
    body = {"model": model, "max_tokens": 32, "messages": [{"role": "user", "content": text}]}
    return httpx.post(gateway.url + "/v1/messages", json=body, headers=account.headers(), timeout=30)


def _debug_lines(gateway: ServiceProcess) -> list[str]:
    # written to the log file before the answer is sent, so in it once the answer is here
    return [line for line in gateway.logs().splitlines() if LINE in line]


@pytest.fixture(params=["off", "errors", "all"])
def mode_gateway(
    request: pytest.FixtureRequest, emulator: ServiceProcess
) -> Iterator[tuple[str, ServiceProcess]]:
    proc = _gateway(emulator, request.param)
    yield request.param, proc
    proc.stop()


def test_bodies_are_logged_only_as_the_mode_says(
    mode_gateway: tuple[str, ServiceProcess], emu: Emulator
) -> None:
    mode, gateway = mode_gateway
    ok = _post(gateway, emu, "claude-sonnet-4.5", f"hello {MARK}-ok")
    bad = _post(gateway, emu, "no-such-model", f"hello {MARK}-bad key {SECRET}")
    assert (ok.status_code, bad.status_code) == (200, 400)

    lines = _debug_lines(gateway)
    logged_ok = [line for line in lines if f"{MARK}-ok" in line]
    logged_bad = [line for line in lines if f"{MARK}-bad" in line]
    assert len(logged_bad) == (0 if mode == "off" else 1)
    assert len(logged_ok) == (1 if mode == "all" else 0)
    for line in logged_bad:
        assert "level=warning" in line and "status=400" in line and "no-such-model" in line
        assert SECRET not in line  # the redaction still applies
    for line in logged_ok:
        assert "kiro_request=" in line and "conversationState" in line and "response_body=" in line
    assert SECRET not in gateway.logs()

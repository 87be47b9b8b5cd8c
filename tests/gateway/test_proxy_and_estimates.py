"""Outbound proxies (per-account X-Kiro-Proxy-Url, http and socks5) and the input-token estimate."""

from __future__ import annotations

import json

import httpx
import pytest

from services.gateway.build import EXACT_COUNT_BYTES, estimate_input_tokens
from services.gateway.translate import build_kiro_request, count_tokens, parse_anthropic
from tests.gateway.proxies import TestProxy
from tests.gateway.support import Emulator
from tests.gateway.translate.fixtures import fixtures_dir
from tests.support.procs import ServiceProcess

BODY = {
    "model": "claude-sonnet-4-6",
    "max_tokens": 10,
    "messages": [{"role": "user", "content": "via proxy"}],
}


@pytest.mark.parametrize("kind", ["http", "socks5"])
def test_kiro_traffic_goes_through_the_accounts_proxy(
    gateway: ServiceProcess, emulator: ServiceProcess, emu: Emulator, kind: str
) -> None:
    account = emu.account()
    with TestProxy(kind, emulator.url) as proxy:
        headers = account.headers(**{"X-Kiro-Proxy-Url": proxy.url})
        r = httpx.post(f"{gateway.url}/v1/messages", json=BODY, headers=headers, timeout=30)
        assert r.status_code == 200, r.text
        assert r.json()["content"][0]["text"] == "via proxy"
        assert proxy.connections >= 1


def test_an_unreachable_proxy_is_an_upstream_failure_not_a_direct_call(
    gateway: ServiceProcess, emu: Emulator
) -> None:
    account = emu.account()
    headers = account.headers(**{"X-Kiro-Proxy-Url": "http://127.0.0.1:9"})
    r = httpx.post(f"{gateway.url}/v1/messages", json=BODY, headers=headers, timeout=30)
    assert r.status_code == 529
    assert r.headers["x-kiro-failure"] == "upstream_error"
    assert emu.counts(account.name) == {}


def test_large_prompts_are_estimated_close_to_the_exact_count() -> None:
    capture = json.loads(
        (fixtures_dir() / "clients" / "claude_code_02_messages_stream_first_turn.json").read_text()
    )
    req = parse_anthropic(capture["body"])
    kiro = build_kiro_request(req, model_id="claude-sonnet-4.5")
    assert kiro.payload_bytes > EXACT_COUNT_BYTES
    exact = count_tokens(req)
    assert 0.8 * exact <= estimate_input_tokens(req, kiro.payload_bytes) <= 1.25 * exact


def test_small_prompts_are_counted_exactly() -> None:
    req = parse_anthropic(BODY)
    kiro = build_kiro_request(req, model_id="claude-sonnet-4.6")
    assert estimate_input_tokens(req, kiro.payload_bytes) == count_tokens(req)

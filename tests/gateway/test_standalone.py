"""Standalone mode (no router, no INTERNAL_API_KEY): the gateway refreshes its account's token itself."""

from __future__ import annotations

import concurrent.futures
from collections.abc import Iterator

import httpx
import pytest

from tests.gateway.support import Account, Emulator, start_gateway
from tests.support.procs import ServiceProcess

BODY = {
    "model": "claude-sonnet-4-6",
    "max_tokens": 10,
    "messages": [{"role": "user", "content": "standalone"}],
}


@pytest.fixture(scope="module")
def env_account(emu: Emulator) -> Account:
    return emu.account(rotate_refresh=True)


@pytest.fixture(scope="module")
def standalone(emulator: ServiceProcess, env_account: Account) -> Iterator[ServiceProcess]:
    proc = start_gateway(emulator.url, INTERNAL_API_KEY="", KIRO_REFRESH_TOKEN=env_account.refresh_token)
    yield proc
    proc.stop()


def _post(gateway: ServiceProcess, headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.post(f"{gateway.url}/v1/messages", json=BODY, headers=headers or {}, timeout=30)


def test_many_requests_cost_one_refresh(
    standalone: ServiceProcess, emu: Emulator, env_account: Account
) -> None:
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        statuses = list(pool.map(lambda _: _post(standalone).status_code, range(12)))
    assert statuses == [200] * 12
    counts = emu.counts(env_account.name)
    assert counts["social_refresh"] == 1
    assert counts["chat_codewhisperer"] == 12


def test_a_rejected_access_token_is_refreshed_once_and_the_call_repeated(
    standalone: ServiceProcess, emu: Emulator, env_account: Account
) -> None:
    _post(standalone)
    before = emu.counts(env_account.name).get("social_refresh", 0)
    emu.expire(env_account.name)
    assert _post(standalone).status_code == 200
    assert _post(standalone).status_code == 200
    assert emu.counts(env_account.name)["social_refresh"] == before + 1  # rotated token followed


def test_a_refresh_token_header_is_accepted_without_an_internal_key(
    standalone: ServiceProcess, emu: Emulator
) -> None:
    other = emu.account()
    assert _post(standalone, {"X-Kiro-Refresh-Token": other.refresh_token}).status_code == 200
    assert emu.counts(other.name) == {"social_refresh": 1, "chat_codewhisperer": 1}


def test_a_dead_refresh_token_is_an_authentication_error(standalone: ServiceProcess) -> None:
    r = _post(standalone, {"X-Kiro-Refresh-Token": "not-a-known-refresh-token"})
    assert r.status_code == 401
    assert r.json()["error"]["type"] == "authentication_error"
    assert r.headers["x-kiro-failure"] == "invalid_token"


def test_an_idc_refresh_token_is_refreshed_at_the_oidc_endpoint(
    standalone: ServiceProcess, emu: Emulator
) -> None:
    idc = emu.account(auth_kind="idc")
    headers = {
        "X-Kiro-Refresh-Token": idc.refresh_token,
        "X-Kiro-Auth-Kind": "idc",
        "X-Kiro-Client-Id": idc.client_id,
        "X-Kiro-Client-Secret": idc.client_secret,
    }
    assert _post(standalone, headers).status_code == 200
    assert _post(standalone, headers).status_code == 200
    assert emu.counts(idc.name) == {"oidc_token": 1, "chat_codewhisperer": 2}

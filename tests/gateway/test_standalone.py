"""Standalone mode (no router): client keys guard the gateway, which refreshes its account's token itself."""

from __future__ import annotations

import concurrent.futures
import os
import socket
import subprocess
import sys
import uuid
from collections.abc import Iterator

import anthropic
import httpx
import openai
import pytest

from shared.crypto import sha256_hex
from tests.gateway.support import INTERNAL_KEY, Account, Emulator, start_gateway
from tests.support.procs import ROOT, ServiceProcess

BODY = {
    "model": "claude-sonnet-4-6",
    "max_tokens": 10,
    "messages": [{"role": "user", "content": "standalone"}],
}
CLIENT_KEY = "sk-standalone-" + uuid.uuid4().hex
HASHED_KEY = "sk-hashed-" + uuid.uuid4().hex


@pytest.fixture(scope="module")
def env_account(emu: Emulator) -> Account:
    return emu.account(rotate_refresh=True)


@pytest.fixture(scope="module")
def standalone(emulator: ServiceProcess, env_account: Account) -> Iterator[ServiceProcess]:
    proc = start_gateway(
        emulator.url,
        KIRO_REFRESH_TOKEN=env_account.refresh_token,
        PROXY_API_KEY=CLIENT_KEY,
        PROXY_API_KEYS_SHA256=f"{'0' * 64}, {sha256_hex(HASHED_KEY).upper()}",
    )
    yield proc
    proc.stop()


def _post(
    gateway: ServiceProcess, headers: dict[str, str] | None = None, key: str | None = CLIENT_KEY
) -> httpx.Response:
    sent = {**({"x-api-key": key} if key else {}), **(headers or {})}
    return httpx.post(f"{gateway.url}/v1/messages", json=BODY, headers=sent, timeout=30)


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


def test_a_clients_own_refresh_token_header_is_accepted_with_a_client_key(
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


@pytest.mark.parametrize("key", [None, "sk-wrong", CLIENT_KEY + "x"])
def test_a_client_without_a_valid_key_gets_401_and_spends_nothing(
    standalone: ServiceProcess, emu: Emulator, env_account: Account, key: str | None
) -> None:
    own = emu.account()
    before = emu.counts(env_account.name)
    r = _post(standalone, {"X-Kiro-Refresh-Token": own.refresh_token}, key=key)
    assert r.status_code == 401
    assert r.json()["error"]["type"] == "authentication_error"
    assert emu.counts(env_account.name) == before
    assert emu.counts(own.name) == {}  # neither the env account nor the client's own token was used


def test_anthropic_and_openai_clients_see_401_in_their_own_shape(standalone: ServiceProcess) -> None:
    with (
        anthropic.Anthropic(base_url=standalone.url, api_key="sk-wrong", max_retries=0) as client,
        pytest.raises(anthropic.AuthenticationError) as claude,
    ):
        client.messages.create(**BODY)  # type: ignore[call-overload]
    assert claude.value.body["error"]["type"] == "authentication_error"  # type: ignore[index]
    with (
        openai.OpenAI(base_url=standalone.url + "/v1", api_key="sk-wrong", max_retries=0) as oai,
        pytest.raises(openai.AuthenticationError) as gpt,
    ):
        oai.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "hi"}])
    assert gpt.value.code == "invalid_api_key"
    r = httpx.post(f"{standalone.url}/v1/messages/count_tokens", json=BODY, timeout=30)
    assert r.status_code == 401
    r = httpx.get(f"{standalone.url}/v1/models", headers={"Authorization": "Bearer sk-wrong"}, timeout=30)
    assert r.status_code == 401 and r.json()["error"]["code"] == "invalid_api_key"


def test_the_key_works_as_x_api_key_bearer_or_a_hashed_key(
    standalone: ServiceProcess, env_account: Account, emu: Emulator
) -> None:
    with anthropic.Anthropic(base_url=standalone.url, api_key=HASHED_KEY, max_retries=0) as client:
        reply = client.messages.create(**BODY)  # type: ignore[call-overload]
    assert reply.content[0].text == "standalone"
    with openai.OpenAI(base_url=standalone.url + "/v1", api_key=CLIENT_KEY, max_retries=0) as oai:
        chat = oai.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "hi"}])
    assert chat.choices[0].message.content == "hi"
    r = httpx.post(
        f"{standalone.url}/v1/messages/count_tokens",
        json=BODY,
        headers={"Authorization": f"Bearer {HASHED_KEY}"},
        timeout=30,
    )
    assert r.status_code == 200 and r.json()["input_tokens"] > 0


def test_router_requests_need_no_client_key(standalone: ServiceProcess, emu: Emulator) -> None:
    pooled = emu.account()
    r = _post(standalone, pooled.headers(), key=None)
    assert r.status_code == 200
    assert emu.counts(pooled.name) == {"chat_codewhisperer": 1}


def test_an_untrusted_request_never_reaches_the_env_account_without_a_client_key(
    emulator: ServiceProcess, emu: Emulator
) -> None:
    """A gateway behind the router that also has an env account, as in issue 11 row 3: no client keys."""
    account = emu.account()
    proc = start_gateway(emulator.url, KIRO_REFRESH_TOKEN=account.refresh_token)
    try:
        for headers in ({}, {"X-Internal-Key": "wrong"}, {"X-Kiro-Refresh-Token": account.refresh_token}):
            r = _post(proc, headers, key="anything")
            assert r.status_code == 401, headers
            assert "router only" in r.json()["error"]["message"]
        r = httpx.get(f"{proc.url}/v1/models", timeout=30)  # anonymous: the built-in list, no account
        assert r.status_code == 200
        assert _post(proc, {"X-Internal-Key": INTERNAL_KEY}, key=None).status_code == 200  # the router
    finally:
        proc.stop()
    assert emu.counts(account.name) == {"social_refresh": 1, "chat_codewhisperer": 1}


@pytest.mark.e2e
def test_production_refuses_an_env_account_without_a_client_key() -> None:
    env = {
        **os.environ,
        "KIRO_ENV": "production",
        "KIRO_REFRESH_TOKEN": "r" * 32,
        "INTERNAL_API_KEY": "k" * 32,
        "PROXY_API_KEY": "",
        "PROXY_API_KEYS_SHA256": "",
        "KIRO_EMULATOR_URL": "",
    }
    done = subprocess.run(
        [sys.executable, "-m", "services.gateway", "--port", "0"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode != 0
    assert "KIRO_REFRESH_TOKEN is set but no client key" in done.stderr
    assert "PROXY_API_KEY" in done.stderr


def test_a_client_without_a_key_is_refused_before_its_body_is_read(standalone: ServiceProcess) -> None:
    """The head of a chunked request, and no body: the 401 comes at once, not after a body never sent."""
    with socket.create_connection(("127.0.0.1", standalone.port), timeout=5) as sock:
        sock.sendall(
            b"POST /v1/messages HTTP/1.1\r\nHost: gw\r\ncontent-type: application/json\r\n"
            b"transfer-encoding: chunked\r\n\r\n"
        )
        head = sock.recv(4096)
    assert head.startswith(b"HTTP/1.1 401")


def test_a_clients_oversized_body_is_a_413_in_its_shape(standalone: ServiceProcess) -> None:
    big = b'{"model": "x", "pad": "' + b"a" * 2_100_000 + b'"}'
    r = httpx.post(
        f"{standalone.url}/v1/chat/completions",
        content=big,
        headers={"Authorization": f"Bearer {CLIENT_KEY}", "content-type": "application/json"},
        timeout=30,
    )
    assert r.status_code == 413
    assert r.json()["error"]["type"] == "invalid_request_error"

"""Standalone gateway with several refresh tokens (KIRO_REFRESH_TOKENS): weights, cooldowns, dead tokens."""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Callable, Iterator

import anthropic
import httpx
import openai
import pytest

from services.gateway.token_pool import parse_token_list
from shared.errors import ConfigError
from tests.gateway.support import Account, Emulator, start_gateway
from tests.support.procs import ServiceProcess

CLIENT_KEY = "sk-pool-" + uuid.uuid4().hex
BODY = {"model": "claude-sonnet-4-6", "max_tokens": 10, "messages": [{"role": "user", "content": "pool"}]}

StartPool = Callable[..., ServiceProcess]


@pytest.fixture
def start_pool(emulator: ServiceProcess) -> Iterator[StartPool]:
    """`start_pool("tok:3,tok2", **env)`: a standalone gateway serving these refresh tokens."""
    started: list[ServiceProcess] = []

    def start(tokens: str, **env: str) -> ServiceProcess:
        started.append(
            start_gateway(emulator.url, KIRO_REFRESH_TOKENS=tokens, PROXY_API_KEY=CLIENT_KEY, **env)
        )
        return started[-1]

    yield start
    for proc in started:
        proc.stop()


def _post(gateway: ServiceProcess, path: str = "/v1/messages") -> httpx.Response:
    return httpx.post(f"{gateway.url}{path}", json=BODY, headers={"x-api-key": CLIENT_KEY}, timeout=30)


def _chats(emu: Emulator, account: Account) -> int:
    counts = emu.counts(account.name)
    return counts.get("chat_codewhisperer", 0) + counts.get("chat_amazonq", 0)


def _set_aside(gateway: ServiceProcess, kind: str) -> float:
    """The gateway's count of tokens taken out of rotation for `kind` (its /metrics)."""
    text = httpx.get(f"{gateway.url}/metrics", timeout=10).text
    found = re.search(rf'^kiro_gateway_standalone_tokens_set_aside_total{{kind="{kind}"}} (\S+)$', text, re.M)
    return float(found.group(1)) if found else 0.0


def _served(emu: Emulator, account: Account) -> int:
    """Chat calls the account answered with 200."""
    r = emu.http.get("/_emulator/counters", params={"account": account.name})
    statuses = r.json()["statuses"]
    return sum(int(by_status.get("200", 0)) for ep, by_status in statuses.items() if ep.startswith("chat"))


def test_requests_are_spread_by_the_tokens_weights(start_pool: StartPool, emu: Emulator) -> None:
    heavy, light, single = emu.account(), emu.account(), emu.account()
    gateway = start_pool(
        f"{heavy.refresh_token}:3,\n{light.refresh_token}", KIRO_REFRESH_TOKEN=single.refresh_token
    )
    statuses = [_post(gateway).status_code for _ in range(15)]
    assert statuses == [200] * 15
    # weights 3 : 1, and KIRO_REFRESH_TOKEN joins the list with weight 1
    assert (_chats(emu, heavy), _chats(emu, light), _chats(emu, single)) == (9, 3, 3)
    assert [emu.counts(a.name)["social_refresh"] for a in (heavy, light, single)] == [1, 1, 1]


def test_a_throttled_token_is_skipped_until_kiros_retry_after_has_passed(
    start_pool: StartPool, emu: Emulator
) -> None:
    first, second = emu.account(), emu.account()
    # the default cooldown is long: the token can only come back this soon by Kiro's Retry-After
    gateway = start_pool(f"{first.refresh_token},{second.refresh_token}", TOKEN_COOLDOWN_SECONDS="600")
    assert _post(gateway).status_code == 200  # first
    emu.fault(account=first.name, endpoint="chat", kind="throttled", times=0, headers={"Retry-After": "2"})
    throttled_at = time.monotonic()
    statuses = [_post(gateway).status_code for _ in range(6)]
    assert statuses == [200] * 6  # the throttled call moved to the other token before its first byte
    assert _served(emu, first) == 1
    assert _served(emu, second) == 6
    assert _set_aside(gateway, "throttled") >= 1
    emu.http.delete("/_emulator/faults", params={"account": first.name}).raise_for_status()
    while _served(emu, first) == 1:
        assert _post(gateway).status_code == 200
        assert time.monotonic() - throttled_at < 30, "the throttled token never came back"
    assert time.monotonic() - throttled_at >= 2  # not before its Retry-After


def test_a_dead_refresh_token_is_skipped_and_never_refreshed_again(
    start_pool: StartPool, emu: Emulator
) -> None:
    dead, alive = emu.account(), emu.account()
    emu.fault(account=dead.name, endpoint="social_refresh", status=401, times=0)
    gateway = start_pool(f"{dead.refresh_token}:5,{alive.refresh_token}")
    statuses = [_post(gateway).status_code for _ in range(6)]
    assert statuses == [200] * 6
    assert emu.counts(dead.name) == {"social_refresh": 1}
    assert _chats(emu, alive) == 6
    assert _set_aside(gateway, "dead") == 1
    logs = gateway.logs()
    assert "standalone token out of rotation until restart" in logs
    assert dead.refresh_token not in logs and alive.refresh_token not in logs


def test_every_token_cooling_is_a_retryable_error_the_sdks_wait_out(
    start_pool: StartPool, emu: Emulator
) -> None:
    one, two = emu.account(), emu.account()
    gateway = start_pool(f"{one.refresh_token},{two.refresh_token}", TOKEN_COOLDOWN_SECONDS="3")
    for account in (one, two):
        emu.fault(account=account.name, endpoint="chat", kind="throttled", times=0)
    first = _post(gateway)
    assert first.status_code == 429  # both throttled in turn: the client hears Kiro's verdict
    assert first.json()["error"]["type"] == "rate_limit_error"
    for account in (one, two):
        emu.http.delete("/_emulator/faults", params={"account": account.name}).raise_for_status()
    cooling = _post(gateway)
    assert cooling.status_code == 529  # Anthropic's overloaded: retryable
    assert cooling.json()["error"]["type"] == "overloaded_error"
    assert 1 <= int(cooling.headers["retry-after"]) <= 3
    oai = _post(gateway, "/v1/chat/completions")
    assert oai.status_code == 503
    assert oai.json()["error"]["type"] == "service_unavailable"

    with anthropic.Anthropic(base_url=gateway.url, api_key=CLIENT_KEY, max_retries=3) as sdk:
        raw = sdk.messages.with_raw_response.create(**BODY)  # type: ignore[call-overload]
    assert raw.retries_taken >= 1  # it got 529 + Retry-After while both tokens cooled, and waited
    assert raw.parse().content[0].text == "pool"
    with openai.OpenAI(base_url=gateway.url + "/v1", api_key=CLIENT_KEY, max_retries=3) as oai_sdk:
        chat = oai_sdk.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "hi"}])
    assert chat.choices[0].message.content == "hi"


def test_every_token_dead_is_an_authentication_error_that_is_not_retried(
    start_pool: StartPool, emu: Emulator
) -> None:
    dead = emu.account()
    emu.fault(account=dead.name, endpoint="social_refresh", status=401, times=0)
    gateway = start_pool(dead.refresh_token)
    for _ in range(3):
        r = _post(gateway)
        assert r.status_code == 401
        assert r.headers["x-should-retry"] == "false"
    assert emu.counts(dead.name) == {"social_refresh": 1}


def test_the_token_list_format() -> None:
    token = "aorAAAAAGexample:MGUCMQDsignature"  # real refresh tokens carry a colon of their own
    parsed = parse_token_list(f"# pool\n{token}:7, other-token-0123456789\n\n{token}:2,")
    assert [(t.token, t.weight) for t in parsed] == [(token, 7), ("other-token-0123456789", 1)]
    assert [t.token for t in parse_token_list(token)] == [token]
    for bad in (f"{token}:0", "short", "a token with spaces 0123456789"):
        with pytest.raises(ConfigError) as caught:
            parse_token_list(bad)
        assert "short" not in str(caught.value) and "spaces" not in str(caught.value)

"""Streaming behaviour: incremental delivery, keep-alive pings, timeouts, auto-continuation."""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Iterator

import httpx
import pytest

from tests.gateway.support import AnthropicFactory, Emulator, directive, sse_events, start_gateway
from tests.support.procs import ServiceProcess

MODEL = "claude-sonnet-4-6"
WRITE_TOOL = {
    "name": "write_file",
    "description": "Write a file.",
    "input_schema": {
        "type": "object",
        "properties": {"path": {"type": "string"}, "content": {"type": "string"}},
        "required": ["path", "content"],
    },
}


@pytest.fixture(scope="module")
def pinging(emulator: ServiceProcess) -> Iterator[ServiceProcess]:
    """A gateway that pings after 0.15 s of silence and gives up after 1 s."""
    proc = start_gateway(emulator.url, PING_INTERVAL="0.15", IDLE_READ_TIMEOUT="1.0", FIRST_TOKEN_TIMEOUT="5")
    yield proc
    proc.stop()


@pytest.fixture(scope="module")
def impatient(emulator: ServiceProcess) -> Iterator[ServiceProcess]:
    """A gateway whose first-token timeout (0.4 s) fires long before it would commit the response."""
    proc = start_gateway(emulator.url, FIRST_TOKEN_TIMEOUT="0.4", PING_INTERVAL="5", RETRY_ATTEMPTS="2")
    yield proc
    proc.stop()


def _body(content: str, **extra: object) -> dict[str, object]:
    return {
        "model": MODEL,
        "max_tokens": 1000,
        "stream": True,
        "messages": [{"role": "user", "content": content}],
        **extra,
    }


def test_text_reaches_the_client_before_kiro_sends_the_next_frame(
    gateway: ServiceProcess, emu: Emulator
) -> None:
    account = emu.account()
    # Kiro sends frames at 0, 0.5, 1.0 and 1.5 s; each text delta must be relayed as its frame arrives
    body = _body(directive(text="aaaa bbbb cccc dddd", chunks=4, delay_ms=500))
    arrivals: list[float] = []
    with httpx.stream(
        "POST", f"{gateway.url}/v1/messages", json=body, headers=account.headers(), timeout=30
    ) as r:
        for line in r.iter_lines():
            if '"text_delta"' in line:
                arrivals.append(time.monotonic())
    assert len(arrivals) == 4
    # had the first delta waited for the second frame, the spread could not exceed 1.0 s
    assert arrivals[-1] - arrivals[0] >= 1.2


def test_keep_alive_pings_flow_while_kiro_is_silent_mid_stream(
    pinging: ServiceProcess, emu: Emulator
) -> None:
    account = emu.account()
    r = httpx.post(
        f"{pinging.url}/v1/messages",
        json=_body(directive(text="slow and steady", chunks=2, delay_ms=600)),
        headers=account.headers(),
        timeout=30,
    )
    names = [name for name, _ in sse_events(r.text)]
    first, last = (
        names.index("content_block_delta"),
        len(names) - 1 - names[::-1].index("content_block_delta"),
    )
    assert "ping" in names[first:last]
    assert names[-2] == "message_stop"


def test_openai_keep_alive_is_a_comment_line(pinging: ServiceProcess, emu: Emulator) -> None:
    account = emu.account()
    body = {
        "model": MODEL,
        "stream": True,
        "messages": [{"role": "user", "content": directive(text="ab", chunks=2, delay_ms=600)}],
    }
    r = httpx.post(f"{pinging.url}/v1/chat/completions", json=body, headers=account.headers(), timeout=30)
    events = sse_events(r.text)
    assert ("comment", "ping") in events
    assert all(name in (None, "comment") for name, _ in events)


def test_a_slow_first_frame_gets_headers_and_message_start_early_then_pings(
    pinging: ServiceProcess, emu: Emulator
) -> None:
    account = emu.account()
    r = httpx.post(
        f"{pinging.url}/v1/messages",
        json=_body(directive(text="finally", first_frame_delay_ms=700)),
        headers=account.headers(),
        timeout=30,
    )
    names = [name for name, _ in sse_events(r.text)]
    assert names[0] == "message_start"
    assert names[1] == "ping"
    assert names.index("content_block_delta") > 1
    assert names[-2] == "message_stop"


def test_kiro_going_silent_past_the_idle_timeout_ends_with_an_in_band_error(
    pinging: ServiceProcess, emu: Emulator
) -> None:
    account = emu.account()
    r = httpx.post(
        f"{pinging.url}/v1/messages",
        json=_body(directive(text="first then nothing", chunks=2, delay_ms=3000)),
        headers=account.headers(),
        timeout=30,
    )
    events = sse_events(r.text)
    names = [name for name, _ in events]
    assert "content_block_delta" in names
    assert names[-2:] == ["error", "comment"]
    assert '"failure":"upstream_error"' in events[-1][1]


def test_first_token_timeout_is_retried_then_reported_before_any_byte(
    impatient: ServiceProcess, emu: Emulator
) -> None:
    account = emu.account()
    emu.fault(account=account.name, endpoint="chat", times=0, first_byte_delay_ms=1500)
    r = httpx.post(f"{impatient.url}/v1/messages", json=_body("hello"), headers=account.headers(), timeout=30)
    assert r.status_code == 529
    assert r.json()["error"]["type"] == "overloaded_error"
    assert r.headers["x-kiro-failure"] == "upstream_error"
    assert emu.counts(account.name)["chat_codewhisperer"] == 2


def _big_tool_call(size: int) -> dict[str, object]:
    content = "".join(f"line {i:05d} of the file\n" for i in range(size // 22))
    return {"name": "write_file", "input": {"path": "big.txt", "content": content}, "chunks": 20}


def test_a_tool_call_cut_by_the_output_cap_is_continued_into_one_valid_call(
    gateway: ServiceProcess, emu: Emulator, anthropic_sdk: AnthropicFactory
) -> None:
    account = emu.account()
    call = _big_tool_call(3000)
    prompt = directive(text="Writing it.", tool_calls=[call], output_cap=1800)
    client = anthropic_sdk(gateway, account)
    with client.messages.stream(
        model=MODEL, max_tokens=8000, tools=[WRITE_TOOL], messages=[{"role": "user", "content": prompt}]
    ) as stream:
        final = stream.get_final_message()
    tools = [b for b in final.content if b.type == "tool_use"]
    assert len(tools) == 1
    assert tools[0].input == call["input"]
    assert final.stop_reason == "tool_use"
    requests = emu.requests(account.name, "chat_codewhisperer")
    assert len(requests) == 2
    ids = {r["body"]["conversationState"]["conversationId"] for r in requests}
    assert len(ids) == 1


def test_continuations_are_bounded_and_the_cut_call_ends_as_max_tokens(
    gateway: ServiceProcess, emu: Emulator
) -> None:
    account = emu.account()
    prompt = directive(tool_calls=[_big_tool_call(6000)], output_cap=500)
    r = httpx.post(
        f"{gateway.url}/v1/messages",
        json={**_body(prompt), "tools": [WRITE_TOOL]},
        headers=account.headers(),
        timeout=30,
    )
    deltas = [json.loads(d) for name, d in sse_events(r.text) if name == "message_delta"]
    assert deltas[-1]["delta"]["stop_reason"] == "max_tokens"
    assert emu.counts(account.name)["chat_codewhisperer"] == 1 + 3  # the default bound


KIRO_WAIT = 2.5  # seconds the emulator holds each answer back


def test_pings_go_on_while_a_continuation_waits_for_kiro(pinging: ServiceProcess, emu: Emulator) -> None:
    account = emu.account()
    # Kiro takes 2.5 s to answer each of the two calls: the client must hear pings through both waits
    emu.fault(account=account.name, endpoint="chat", times=2, first_byte_delay_ms=int(KIRO_WAIT * 1000))
    prompt = directive(tool_calls=[_big_tool_call(3000)], output_cap=1800)
    arrivals: list[float] = []
    received: list[bytes] = []
    started = time.monotonic()
    with httpx.stream(
        "POST",
        f"{pinging.url}/v1/messages",
        json={**_body(prompt), "tools": [WRITE_TOOL]},
        headers=account.headers(),
        timeout=30,
    ) as r:
        for chunk in r.iter_raw():
            arrivals.append(time.monotonic())
            received.append(chunk)
    gaps = [b - a for a, b in itertools.pairwise([started, *arrivals])]
    deltas = [json.loads(d) for name, d in sse_events(b"".join(received).decode()) if name == "message_delta"]

    assert deltas[-1]["delta"]["stop_reason"] == "tool_use"
    assert emu.counts(account.name)["chat_codewhisperer"] == 2  # the answer and its continuation
    # without pings the client sits through each whole wait; with them (every 0.15 s) no silence comes near
    # half of one, however busy the machine
    assert max(gaps) < KIRO_WAIT / 2, [round(g, 2) for g in gaps]


def test_auto_continuation_can_be_turned_off_by_the_router(gateway: ServiceProcess, emu: Emulator) -> None:
    account = emu.account()
    prompt = directive(tool_calls=[_big_tool_call(3000)], output_cap=1000)
    headers = account.headers(**{"X-Kiro-Options": json.dumps({"auto_continue": False})})
    r = httpx.post(
        f"{gateway.url}/v1/messages",
        json={**_body(prompt), "tools": [WRITE_TOOL]},
        headers=headers,
        timeout=30,
    )
    deltas = [json.loads(d) for name, d in sse_events(r.text) if name == "message_delta"]
    assert deltas[-1]["delta"]["stop_reason"] == "max_tokens"
    assert emu.counts(account.name)["chat_codewhisperer"] == 1


def test_a_client_leaving_mid_stream_releases_the_stream(gateway: ServiceProcess, emu: Emulator) -> None:
    account = emu.account()
    body = _body(directive(text="a long answer dripping slowly", chunks=10, delay_ms=1000))
    with httpx.stream(
        "POST", f"{gateway.url}/v1/messages", json=body, headers=account.headers(), timeout=30
    ) as r:
        for line in r.iter_lines():
            if '"text_delta"' in line:
                break
    if not _no_stream_in_flight(gateway, within=10):
        pytest.fail("the stream stayed in flight after the client left")


def test_a_client_leaving_while_kiro_is_still_silent_releases_the_stream(
    pinging: ServiceProcess, emu: Emulator
) -> None:
    account = emu.account()
    body = _body(directive(text="too late", first_frame_delay_ms=8000))
    with httpx.stream(
        "POST", f"{pinging.url}/v1/messages", json=body, headers=account.headers(), timeout=30
    ) as r:
        for line in r.iter_lines():
            if line.startswith("event: ping"):
                break
    if not _no_stream_in_flight(pinging, within=10):
        pytest.fail("the stream stayed in flight after the client left during Kiro's silence")


def _no_stream_in_flight(gateway: ServiceProcess, within: float) -> bool:
    """The gateway's in-flight stream gauge reaches 0 within `within` seconds."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if "kiro_gateway_inflight_streams 0.0" in httpx.get(gateway.url + "/metrics").text:
            return True
        time.sleep(0.05)
    return False

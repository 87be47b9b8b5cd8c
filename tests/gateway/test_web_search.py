"""Anthropic's web search server tool through the gateway: Kiro's MCP search, run by the gateway.

The emulator calls `web_search` by itself for Claude Code's search prompt, answers `POST /mcp` with three
results per query (docs.example.com, news.example.org, blog.example.net) and echoes the next turn.
"""

from __future__ import annotations

import re
import time
from typing import Any

import httpx

from tests.gateway.support import AnthropicFactory, Emulator, directive, sse_events, start_gateway
from tests.support.procs import ServiceProcess

QUERY = "python 3.14 release date"
PROMPT = f"Perform a web search for the query: {QUERY}"
MODEL = "claude-sonnet-4-6"


def search_tool(**fields: Any) -> dict[str, Any]:
    return {"type": "web_search_20250305", "name": "web_search", **fields}


def test_streamed_search_shows_the_call_its_results_then_the_answer(
    gateway: ServiceProcess, emu: Emulator, anthropic_sdk: AnthropicFactory
) -> None:
    account = emu.account()
    client = anthropic_sdk(gateway, account)
    with client.messages.stream(
        model=MODEL,
        max_tokens=1024,
        tools=[search_tool(max_uses=5)],
        messages=[{"role": "user", "content": PROMPT}],
    ) as stream:
        started = [event.content_block.type for event in stream if event.type == "content_block_start"]
        final = stream.get_final_message()

    assert started == ["server_tool_use", "web_search_tool_result", "text"]
    call, results, answer = final.content
    assert call.type == "server_tool_use" and call.name == "web_search"
    assert call.id.startswith("srvtoolu_") and call.input == {"query": QUERY}
    assert results.type == "web_search_tool_result" and results.tool_use_id == call.id
    assert isinstance(results.content, list)
    assert [r.url for r in results.content] == [
        "https://docs.example.com/python-3-14-release-date",
        "https://news.example.org/python-3-14-release-date",
        "https://blog.example.net/python-3-14-release-date",
    ]
    assert results.content[0].page_age == "January 2, 2025"
    assert results.content[0].encrypted_content == f"Result 1 for {QUERY} from docs.example.com."
    assert answer.type == "text" and answer.text
    assert final.stop_reason == "end_turn"
    assert final.usage.server_tool_use is not None and final.usage.server_tool_use.web_search_requests == 1
    assert emu.counts(account.name) == {"chat_codewhisperer": 2, "mcp": 1}
    follow_up = emu.requests(account.name, "chat_codewhisperer")[-1]["body"]["conversationState"]
    result = follow_up["currentMessage"]["userInputMessage"]["userInputMessageContext"]["toolResults"][0]
    assert result["status"] == "success"
    assert "https://news.example.org/python-3-14-release-date" in result["content"][0]["text"]
    called = follow_up["history"][-1]["assistantResponseMessage"]["toolUses"][0]
    assert called["name"] == "web_search" and called["input"] == {"query": QUERY}
    mcp = emu.requests(account.name, "mcp")[-1]
    assert mcp["body"]["method"] == "tools/call"
    assert mcp["body"]["params"] == {"name": "web_search", "arguments": {"query": QUERY}}
    assert mcp["headers"]["x-amzn-kiro-profile-arn"] == account.profile_arn


def test_non_streaming_search_answers_the_same_blocks_in_one_message(
    gateway: ServiceProcess, emu: Emulator, anthropic_sdk: AnthropicFactory
) -> None:
    account = emu.account()
    message = anthropic_sdk(gateway, account).messages.create(
        model=MODEL, max_tokens=1024, tools=[search_tool()], messages=[{"role": "user", "content": PROMPT}]
    )
    assert [b.type for b in message.content] == ["server_tool_use", "web_search_tool_result", "text"]
    assert message.content[1].tool_use_id == message.content[0].id
    assert (
        message.usage.server_tool_use is not None and message.usage.server_tool_use.web_search_requests == 1
    )


def test_a_failed_search_is_an_unavailable_result_and_the_model_goes_on(
    gateway: ServiceProcess, emu: Emulator, anthropic_sdk: AnthropicFactory
) -> None:
    account = emu.account()
    emu.fault(account=account.name, endpoint="mcp", kind="server_error")
    with anthropic_sdk(gateway, account).messages.stream(
        model=MODEL, max_tokens=1024, tools=[search_tool()], messages=[{"role": "user", "content": PROMPT}]
    ) as stream:
        final = stream.get_final_message()

    assert [b.type for b in final.content] == ["server_tool_use", "web_search_tool_result", "text"]
    error = final.content[1].content
    assert not isinstance(error, list)
    assert error.type == "web_search_tool_result_error" and error.error_code == "unavailable"
    assert final.stop_reason == "end_turn"
    assert final.usage.server_tool_use is None
    assert searches(gateway, "unavailable") >= 1
    follow_up = emu.requests(account.name, "chat_codewhisperer")[-1]["body"]["conversationState"]
    result = follow_up["currentMessage"]["userInputMessage"]["userInputMessageContext"]["toolResults"][0]
    assert result["status"] == "error"


def test_searches_beyond_max_uses_answer_max_uses_exceeded_without_calling_kiro(
    gateway: ServiceProcess, emu: Emulator, anthropic_sdk: AnthropicFactory
) -> None:
    account = emu.account()
    calls = [{"name": "web_search", "input": {"query": q}} for q in ("first query", "second query")]
    message = anthropic_sdk(gateway, account).messages.create(
        model=MODEL,
        max_tokens=1024,
        tools=[search_tool(max_uses=1)],
        messages=[{"role": "user", "content": "Search twice.\n" + directive(text="", tool_calls=calls)}],
    )
    types = [b.type for b in message.content]
    assert types == [
        "server_tool_use",
        "server_tool_use",
        "web_search_tool_result",
        "web_search_tool_result",
        "text",
    ]
    first, second = message.content[2], message.content[3]
    assert isinstance(first.content, list) and len(first.content) == 3
    assert not isinstance(second.content, list) and second.content.error_code == "max_uses_exceeded"
    assert second.tool_use_id == message.content[1].id
    assert emu.counts(account.name)["mcp"] == 1
    assert (
        message.usage.server_tool_use is not None and message.usage.server_tool_use.web_search_requests == 1
    )


def test_domain_filters_keep_only_allowed_and_drop_blocked_results(
    gateway: ServiceProcess, emu: Emulator, anthropic_sdk: AnthropicFactory
) -> None:
    account = emu.account()
    client = anthropic_sdk(gateway, account)
    messages: Any = [{"role": "user", "content": PROMPT}]
    allowed = client.messages.create(
        model=MODEL,
        max_tokens=256,
        tools=[search_tool(allowed_domains=["news.example.org"])],
        messages=messages,
    )
    blocked = client.messages.create(
        model=MODEL, max_tokens=256, tools=[search_tool(blocked_domains=["example.com"])], messages=messages
    )
    assert [r.url.split("/")[2] for r in allowed.content[1].content] == ["news.example.org"]
    assert [r.url.split("/")[2] for r in blocked.content[1].content] == [
        "news.example.org",
        "blog.example.net",
    ]


def test_both_domain_lists_at_once_are_a_400_in_anthropic_shape(
    gateway: ServiceProcess, emu: Emulator
) -> None:
    account = emu.account()
    body = {
        "model": MODEL,
        "max_tokens": 64,
        "tools": [search_tool(allowed_domains=["a.com"], blocked_domains=["b.com"])],
        "messages": [{"role": "user", "content": PROMPT}],
    }
    r = httpx.post(f"{gateway.url}/v1/messages", json=body, headers=account.headers(), timeout=30)
    assert r.status_code == 400
    assert r.json()["error"]["type"] == "invalid_request_error"
    assert emu.counts(account.name) == {}


def test_echoed_search_blocks_reach_kiro_as_text(
    gateway: ServiceProcess, emu: Emulator, anthropic_sdk: AnthropicFactory
) -> None:
    account = emu.account()
    client = anthropic_sdk(gateway, account)
    first = client.messages.create(
        model=MODEL, max_tokens=1024, tools=[search_tool()], messages=[{"role": "user", "content": PROMPT}]
    )
    history: Any = [
        {"role": "user", "content": PROMPT},
        {"role": "assistant", "content": [block.to_dict() for block in first.content]},
        {"role": "user", "content": "Which of those sites is the official one?"},
    ]
    second = client.messages.create(model=MODEL, max_tokens=256, tools=[search_tool()], messages=history)
    assert second.content[0].type == "text"
    sent = emu.requests(account.name, "chat_codewhisperer")[-1]["body"]["conversationState"]
    said = sent["history"][-1]["assistantResponseMessage"]
    assert f"[web search: {QUERY}]" in said["content"]
    assert "https://docs.example.com/python-3-14-release-date" in said["content"]
    assert "toolUses" not in said


def test_a_client_tool_called_with_a_search_ends_the_turn_for_the_client(
    gateway: ServiceProcess, emu: Emulator, anthropic_sdk: AnthropicFactory
) -> None:
    account = emu.account()
    weather = {"name": "get_weather", "input_schema": {"type": "object", "properties": {}}}
    calls = [{"name": "web_search", "input": {"query": "paris"}}, {"name": "get_weather", "input": {}}]
    message = anthropic_sdk(gateway, account).messages.create(
        model=MODEL,
        max_tokens=256,
        tools=[search_tool(), weather],  # type: ignore[list-item]
        messages=[{"role": "user", "content": "Go.\n" + directive(text="", tool_calls=calls)}],
    )
    assert [b.type for b in message.content] == ["server_tool_use", "tool_use", "web_search_tool_result"]
    assert message.stop_reason == "tool_use"
    assert emu.counts(account.name) == {"chat_codewhisperer": 1, "mcp": 1}


def test_stream_events_keep_block_indexes_in_order(gateway: ServiceProcess, emu: Emulator) -> None:
    account = emu.account()
    body = {
        "model": MODEL,
        "max_tokens": 256,
        "stream": True,
        "tools": [search_tool()],
        "messages": [{"role": "user", "content": PROMPT}],
    }
    r = httpx.post(f"{gateway.url}/v1/messages", json=body, headers=account.headers(), timeout=30)
    starts = [e for name, e in sse_events(r.text) if name == "content_block_start"]
    assert [s.count('"index":' + str(i)) for i, s in enumerate(starts)] == [1, 1, 1]
    assert '"server_tool_use":{"web_search_requests":1' in r.text


def searches(gateway: ServiceProcess, outcome: str) -> float:
    text = httpx.get(gateway.url + "/metrics").text
    found = re.search(r'kiro_gateway_web_searches_total\{outcome="' + outcome + r'"\} (\S+)', text)
    return float(found.group(1)) if found else 0.0


def test_the_call_is_streamed_before_the_search_answers(gateway: ServiceProcess, emu: Emulator) -> None:
    account = emu.account()
    emu.fault(account=account.name, endpoint="mcp", first_byte_delay_ms=1500)
    body = {
        "model": MODEL,
        "max_tokens": 256,
        "stream": True,
        "tools": [search_tool()],
        "messages": [{"role": "user", "content": PROMPT}],
    }
    seen: dict[str, float] = {}
    with httpx.stream(
        "POST", f"{gateway.url}/v1/messages", json=body, headers=account.headers(), timeout=30
    ) as r:
        for line in r.iter_lines():
            for kind in ("server_tool_use", "web_search_tool_result"):
                if line.startswith("data:") and f'"content_block":{{"type":"{kind}"' in line:
                    seen.setdefault(kind, time.monotonic())
    assert seen["web_search_tool_result"] - seen["server_tool_use"] >= 1.2


def test_the_client_hears_pings_while_a_slow_search_runs(emulator: ServiceProcess, emu: Emulator) -> None:
    gateway = start_gateway(emulator.url, PING_INTERVAL="0.3")
    try:
        account = emu.account()
        emu.fault(account=account.name, endpoint="mcp", first_byte_delay_ms=1500)
        body = {
            "model": MODEL,
            "max_tokens": 256,
            "stream": True,
            "tools": [search_tool()],
            "messages": [{"role": "user", "content": PROMPT}],
        }
        r = httpx.post(f"{gateway.url}/v1/messages", json=body, headers=account.headers(), timeout=30)
    finally:
        gateway.stop()
    names = [name for name, _ in sse_events(r.text)]
    call, result = (
        names.index("content_block_start"),
        names.index("content_block_start", names.index("content_block_start") + 1),
    )
    assert names[call:result].count("ping") >= 2
    assert names[-1] == "comment" and "message_stop" in names

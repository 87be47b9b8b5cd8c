"""The official anthropic SDK against the gateway and the emulator: text, tools, images, thinking."""

from __future__ import annotations

import base64

import httpx

from tests.gateway.support import AnthropicFactory, Emulator, directive, sse_events
from tests.support.procs import ServiceProcess

WEATHER_TOOL = {
    "name": "get_weather",
    "description": "Current weather for a city.",
    "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}
TIME_TOOL = {
    "name": "get_time",
    "description": "Current time in a city.",
    "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}
# 1x1 transparent PNG
PNG = base64.b64encode(
    bytes.fromhex(
        "89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c489"
        "0000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082"
    )
).decode()


def test_non_streaming_reply_echoes_the_answer_with_usage_and_request_id(
    gateway: ServiceProcess, emu: Emulator, anthropic_sdk: AnthropicFactory
) -> None:
    account = emu.account()
    client = anthropic_sdk(gateway, account)
    raw = client.messages.with_raw_response.create(
        model="claude-sonnet-4-6",
        max_tokens=64000,
        messages=[{"role": "user", "content": "Say something nice about Paris."}],
    )
    message = raw.parse()
    assert raw.headers["request-id"]
    assert message.content[0].type == "text"
    assert message.content[0].text == "Say something nice about Paris."
    assert message.stop_reason == "end_turn"
    assert message.model == "claude-sonnet-4.6"  # the Kiro id that served the dashed name
    assert message.usage.input_tokens > 0 and message.usage.output_tokens > 0
    assert int(raw.headers["x-kiro-usage-output-tokens"]) == message.usage.output_tokens
    sent = emu.requests(account.name, "chat_codewhisperer")[-1]["body"]
    assert sent["conversationState"]["currentMessage"]["userInputMessage"]["modelId"] == "claude-sonnet-4.6"


def test_streamed_text_arrives_as_deltas_and_the_final_message_is_complete(
    gateway: ServiceProcess, emu: Emulator, anthropic_sdk: AnthropicFactory
) -> None:
    account = emu.account()
    client = anthropic_sdk(gateway, account)
    prompt = directive(text="Hello from the emulator, streamed in pieces.", chunks=6)
    with client.messages.stream(
        model="claude-sonnet-4-6", max_tokens=1024, messages=[{"role": "user", "content": prompt}]
    ) as stream:
        deltas = list(stream.text_stream)
        final = stream.get_final_message()
    assert len(deltas) >= 5
    assert "".join(deltas) == "Hello from the emulator, streamed in pieces."
    assert final.stop_reason == "end_turn"
    assert final.usage.output_tokens > 0


def test_stream_ends_with_the_usage_trailer_after_message_stop(
    gateway: ServiceProcess, emu: Emulator, anthropic_sdk: AnthropicFactory
) -> None:
    account = emu.account()
    body = {
        "model": "claude-sonnet-4-6",
        "max_tokens": 100,
        "stream": True,
        "messages": [{"role": "user", "content": directive(text="counted", metering=0.25)}],
    }
    r = httpx.post(f"{gateway.url}/v1/messages?beta=true", json=body, headers=account.headers(), timeout=30)
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/event-stream")
    events = sse_events(r.text)
    names = [name for name, _ in events]
    assert names[0] == "message_start"
    assert names[-2:] == ["message_stop", "comment"]
    trailer = events[-1][1]
    assert trailer.startswith("x-kiro-usage ")
    assert '"credits":0.25' in trailer and '"failure":null' in trailer


def test_a_single_tool_call_reaches_the_client_with_its_input(
    gateway: ServiceProcess, emu: Emulator, anthropic_sdk: AnthropicFactory
) -> None:
    account = emu.account()
    client = anthropic_sdk(gateway, account)
    prompt = "Weather?\n" + directive(
        text="Let me check.", tool_calls=[{"name": "get_weather", "input": {"city": "Paris"}, "chunks": 4}]
    )
    with client.messages.stream(
        model="claude-sonnet-4-6",
        max_tokens=1024,
        tools=[WEATHER_TOOL],
        messages=[{"role": "user", "content": prompt}],
    ) as stream:
        final = stream.get_final_message()
    assert final.stop_reason == "tool_use"
    assert [b.type for b in final.content] == ["text", "tool_use"]
    tool = final.content[1]
    assert tool.type == "tool_use"
    assert (tool.name, tool.input) == ("get_weather", {"city": "Paris"})


def test_parallel_tool_calls_arrive_as_separate_blocks_in_order(
    gateway: ServiceProcess, emu: Emulator, anthropic_sdk: AnthropicFactory
) -> None:
    account = emu.account()
    client = anthropic_sdk(gateway, account)
    prompt = directive(
        tool_calls=[
            {"name": "get_weather", "input": {"city": "Paris"}},
            {"name": "get_time", "input": {"city": "Tokyo"}},
        ]
    )
    message = client.messages.create(
        model="claude-sonnet-4-6",
        max_tokens=1024,
        tools=[WEATHER_TOOL, TIME_TOOL],
        messages=[{"role": "user", "content": prompt}],
    )
    tools = [b for b in message.content if b.type == "tool_use"]
    assert [(t.name, t.input) for t in tools] == [
        ("get_weather", {"city": "Paris"}),
        ("get_time", {"city": "Tokyo"}),
    ]
    assert len({t.id for t in tools}) == 2
    assert message.stop_reason == "tool_use"


def test_tool_result_round_trip_is_paired_in_the_kiro_request(
    gateway: ServiceProcess, emu: Emulator, anthropic_sdk: AnthropicFactory
) -> None:
    account = emu.account()
    client = anthropic_sdk(gateway, account)
    first = client.messages.create(
        model="claude-sonnet-4-6",
        max_tokens=1024,
        tools=[WEATHER_TOOL],
        messages=[
            {
                "role": "user",
                "content": directive(tool_calls=[{"name": "get_weather", "input": {"city": "Paris"}}]),
            }
        ],
    )
    tool_use = next(b for b in first.content if b.type == "tool_use")
    second = client.messages.create(
        model="claude-sonnet-4-6",
        max_tokens=1024,
        tools=[WEATHER_TOOL],
        messages=[
            {"role": "user", "content": "What is the weather in Paris?"},
            {"role": "assistant", "content": first.content},
            {
                "role": "user",
                "content": [
                    {"type": "tool_result", "tool_use_id": tool_use.id, "content": "18°C, cloudy"},
                    {"type": "text", "text": "Summarise that."},
                ],
            },
        ],
    )
    assert second.stop_reason == "end_turn"
    state = emu.requests(account.name, "chat_codewhisperer")[-1]["body"]["conversationState"]
    results = state["currentMessage"]["userInputMessage"]["userInputMessageContext"]["toolResults"]
    assert results[0]["toolUseId"] == tool_use.id
    assert results[0]["content"] == [{"text": "18°C, cloudy"}]
    assert state["history"][-1]["assistantResponseMessage"]["toolUses"][0]["toolUseId"] == tool_use.id


def test_an_image_is_forwarded_to_kiro_as_image_bytes(
    gateway: ServiceProcess, emu: Emulator, anthropic_sdk: AnthropicFactory
) -> None:
    account = emu.account()
    client = anthropic_sdk(gateway, account)
    message = client.messages.create(
        model="claude-sonnet-4-6",
        max_tokens=1024,
        messages=[
            {
                "role": "user",
                "content": [
                    {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG}},
                    {"type": "text", "text": "What is in this image?"},
                ],
            }
        ],
    )
    assert message.content[0].type == "text"
    sent = emu.requests(account.name, "chat_codewhisperer")[-1]["body"]
    images = sent["conversationState"]["currentMessage"]["userInputMessage"]["images"]
    assert images == [{"format": "png", "source": {"bytes": PNG}}]


def test_thinking_arrives_as_a_signed_thinking_block_before_the_answer(
    gateway: ServiceProcess, emu: Emulator, anthropic_sdk: AnthropicFactory
) -> None:
    account = emu.account()
    client = anthropic_sdk(gateway, account)
    prompt = directive(thinking="First, consider the question carefully.", text="The answer is 4.", chunks=3)
    with client.messages.stream(
        model="claude-sonnet-4-6",
        max_tokens=8000,
        thinking={"type": "enabled", "budget_tokens": 4000},
        messages=[{"role": "user", "content": prompt}],
    ) as stream:
        final = stream.get_final_message()
    assert [b.type for b in final.content] == ["thinking", "text"]
    thinking = final.content[0]
    assert thinking.type == "thinking"
    assert thinking.thinking == "First, consider the question carefully."
    assert thinking.signature
    assert final.content[1].type == "text" and final.content[1].text == "The answer is 4."
    sent = emu.requests(account.name, "chat_codewhisperer")[-1]["body"]
    content = sent["conversationState"]["currentMessage"]["userInputMessage"]["content"]
    assert content.count("<thinking_mode>") == 1


def test_count_tokens_is_answered_locally(
    gateway: ServiceProcess, emu: Emulator, anthropic_sdk: AnthropicFactory
) -> None:
    account = emu.account()
    client = anthropic_sdk(gateway, account)
    short = client.messages.count_tokens(
        model="claude-sonnet-4-6", messages=[{"role": "user", "content": "foo"}], tools=[]
    )
    long = client.messages.count_tokens(
        model="claude-sonnet-4-6",
        messages=[{"role": "user", "content": "foo " * 500}],
        tools=[WEATHER_TOOL],
        thinking={"type": "enabled", "budget_tokens": 2000},
    )
    assert short.input_tokens >= 1
    assert long.input_tokens > short.input_tokens + 400
    assert emu.counts(account.name).get("chat_codewhisperer", 0) == 0

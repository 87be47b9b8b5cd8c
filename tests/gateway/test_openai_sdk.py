"""The official openai SDK against the gateway and the emulator: text, usage, tools, reasoning."""

from __future__ import annotations

import json

import httpx

from tests.gateway.support import Emulator, OpenAIFactory, directive, sse_events
from tests.support.procs import ServiceProcess

WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather for a city.",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}
TIME = {
    "type": "function",
    "function": {
        "name": "get_time",
        "description": "Current time in a city.",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}


def test_non_streaming_completion_uses_the_default_model_for_openai_names(
    gateway: ServiceProcess, emu: Emulator, openai_sdk: OpenAIFactory
) -> None:
    account = emu.account()
    client = openai_sdk(gateway, account)
    raw = client.chat.completions.with_raw_response.create(
        model="gpt-4o",
        messages=[{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi!"}],
    )
    completion = raw.parse()
    assert raw.headers["x-request-id"]
    assert completion.object == "chat.completion"
    assert completion.model == "claude-sonnet-4.5"  # the default model serves OpenAI names, and says so
    assert completion.choices[0].message.content == "Be brief.\n\nHi!"  # the echo shows the system placement
    assert completion.choices[0].finish_reason == "stop"
    assert completion.usage is not None and completion.usage.total_tokens > 0
    sent = emu.requests(account.name, "chat_codewhisperer")[-1]["body"]["conversationState"]
    assert sent["currentMessage"]["userInputMessage"]["modelId"] == "claude-sonnet-4.5"


def test_streamed_completion_ends_with_one_usage_chunk_when_asked(
    gateway: ServiceProcess, emu: Emulator, openai_sdk: OpenAIFactory
) -> None:
    account = emu.account()
    client = openai_sdk(gateway, account)
    stream = client.chat.completions.create(
        model="claude-sonnet-4-6",
        messages=[{"role": "user", "content": directive(text="one two three four", chunks=4)}],
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "one two three four"
    assert chunks[0].choices[0].delta.role == "assistant"
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    usage_chunks = [c for c in chunks if not c.choices]
    assert len(usage_chunks) == 1 and usage_chunks[0].usage is not None
    assert usage_chunks[0].usage.completion_tokens > 0
    assert len({c.id for c in chunks}) == 1


def test_first_chunk_opens_a_text_answer_with_empty_content_and_a_tool_answer_with_null(
    gateway: ServiceProcess, emu: Emulator, openai_sdk: OpenAIFactory
) -> None:
    """As OpenAI's own streams: `content: ""` opens text, `null` a tool-only answer (client-compat §2.3)."""
    account = emu.account()
    client = openai_sdk(gateway, account)
    text_chunks = list(
        client.chat.completions.create(
            model="claude-sonnet-4-6",
            messages=[{"role": "user", "content": directive(text="plain words", chunks=2)}],
            stream=True,
        )
    )
    with client.chat.completions.stream(
        model="claude-sonnet-4-6",
        messages=[
            {"role": "user", "content": directive(text="", tool_calls=[{"name": "get_weather", "input": {}}])}
        ],
        tools=[WEATHER],  # type: ignore[list-item]
    ) as stream:
        tool_first = next(iter(stream)).chunk  # type: ignore[attr-defined]
        tool_answer = stream.get_final_completion().choices[0].message

    first = text_chunks[0].choices[0].delta
    assert (first.role, first.content) == ("assistant", "")
    assert "".join(c.choices[0].delta.content or "" for c in text_chunks) == "plain words"
    assert tool_first.choices[0].delta.role == "assistant" and tool_first.choices[0].delta.content is None
    assert tool_answer.content is None and tool_answer.tool_calls
    assert tool_answer.tool_calls[0].function.name == "get_weather"


def test_stream_without_include_usage_sends_no_usage_chunk_and_ends_with_done(
    gateway: ServiceProcess, emu: Emulator
) -> None:
    account = emu.account()
    body = {"model": "claude-sonnet-4-6", "stream": True, "messages": [{"role": "user", "content": "plain"}]}
    r = httpx.post(f"{gateway.url}/v1/chat/completions", json=body, headers=account.headers(), timeout=30)
    events = sse_events(r.text)
    assert all(name is None or name == "comment" for name, _ in events)  # no `event:` lines
    data = [d for name, d in events if name is None]
    assert data[-1] == "[DONE]"
    assert all(json.loads(d)["choices"] for d in data[:-1])
    assert events[-1][0] == "comment" and events[-1][1].startswith("x-kiro-usage ")


def test_parallel_tool_calls_stream_with_consecutive_indices(
    gateway: ServiceProcess, emu: Emulator, openai_sdk: OpenAIFactory
) -> None:
    account = emu.account()
    client = openai_sdk(gateway, account)
    prompt = directive(
        tool_calls=[
            {"name": "get_weather", "input": {"city": "Paris"}, "chunks": 3},
            {"name": "get_time", "input": {"city": "Tokyo"}, "chunks": 3},
        ]
    )
    calls: dict[int, dict[str, str]] = {}
    finish = None
    for chunk in client.chat.completions.create(
        model="claude-sonnet-4-6",
        messages=[{"role": "user", "content": prompt}],
        tools=[WEATHER, TIME],
        stream=True,
    ):
        if not chunk.choices:
            continue
        finish = chunk.choices[0].finish_reason or finish
        for delta in chunk.choices[0].delta.tool_calls or []:
            call = calls.setdefault(delta.index, {"id": "", "name": "", "arguments": ""})
            if delta.id:
                call["id"] = delta.id
            if delta.function and delta.function.name:
                call["name"] += delta.function.name
            if delta.function and delta.function.arguments:
                call["arguments"] += delta.function.arguments
    assert sorted(calls) == [0, 1]
    assert [(calls[i]["name"], json.loads(calls[i]["arguments"])) for i in (0, 1)] == [
        ("get_weather", {"city": "Paris"}),
        ("get_time", {"city": "Tokyo"}),
    ]
    assert finish == "tool_calls"


def test_tool_result_round_trip_with_a_tool_message(
    gateway: ServiceProcess, emu: Emulator, openai_sdk: OpenAIFactory
) -> None:
    account = emu.account()
    client = openai_sdk(gateway, account)
    first = client.chat.completions.create(
        model="claude-sonnet-4-6",
        messages=[
            {
                "role": "user",
                "content": directive(tool_calls=[{"name": "get_weather", "input": {"city": "Oslo"}}]),
            }
        ],
        tools=[WEATHER],
    )
    message = first.choices[0].message
    assert first.choices[0].finish_reason == "tool_calls" and message.tool_calls
    call = message.tool_calls[0]
    assert json.loads(call.function.arguments) == {"city": "Oslo"}
    second = client.chat.completions.create(
        model="claude-sonnet-4-6",
        messages=[
            {"role": "user", "content": "Weather in Oslo?"},
            message.model_dump(exclude_none=True),
            {"role": "tool", "tool_call_id": call.id, "content": "-3°C, snow"},
        ],
        tools=[WEATHER],
    )
    assert second.choices[0].finish_reason == "stop"
    state = emu.requests(account.name, "chat_codewhisperer")[-1]["body"]["conversationState"]
    results = state["currentMessage"]["userInputMessage"]["userInputMessageContext"]["toolResults"]
    assert [(r["toolUseId"], r["content"]) for r in results] == [(call.id, [{"text": "-3°C, snow"}])]


def test_reasoning_goes_to_reasoning_content_by_default(
    gateway: ServiceProcess, emu: Emulator, openai_sdk: OpenAIFactory
) -> None:
    account = emu.account()
    client = openai_sdk(gateway, account)
    stream = client.chat.completions.create(
        model="claude-sonnet-4-6-thinking",
        messages=[{"role": "user", "content": directive(thinking="Two plus two.", text="4")}],
        stream=True,
    )
    reasoning, content = "", ""
    for chunk in stream:
        if chunk.choices:
            delta = chunk.choices[0].delta
            reasoning += getattr(delta, "reasoning_content", None) or ""
            content += delta.content or ""
    assert reasoning == "Two plus two."
    assert content == "4"


def test_reasoning_as_think_tags_when_the_router_says_so(
    gateway: ServiceProcess, emu: Emulator, openai_sdk: OpenAIFactory
) -> None:
    account = emu.account()
    client = openai_sdk(
        gateway, account, **{"X-Kiro-Options": json.dumps({"openai_thinking_format": "think_tags"})}
    )
    completion = client.chat.completions.create(
        model="claude-sonnet-4-6",
        reasoning_effort="high",
        messages=[{"role": "user", "content": directive(thinking="Two plus two.", text="4")}],
    )
    content = completion.choices[0].message.content or ""
    assert content.startswith("<think>") and "Two plus two." in content and content.endswith("4")

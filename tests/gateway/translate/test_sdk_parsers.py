"""The official SDK parsers accept what the translators emit (only the HTTP transport is local)."""

from __future__ import annotations

import json
from collections.abc import Iterable

import anthropic
import httpx
import httpx2
import openai
import pytest

from services.gateway.translate import AnthropicStream, OpenAIStream, ToolNameMap
from shared.errors import FailureKind
from shared.kiro.events import KiroEvent, TextDelta, ToolUseInputDelta, ToolUseStart, ToolUseStop
from shared.runtime_options import ThinkingFormat
from tests.gateway.translate.fixtures import eventstream_meta, kiro_events

SSE = {"content-type": "text/event-stream"}
JSON = {"content-type": "application/json"}


def anthropic_client(body: bytes, headers: dict[str, str] = SSE) -> anthropic.Anthropic:
    def handler(request: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(200, headers=headers, content=body)

    transport = httpx2.MockTransport(handler)
    return anthropic.Anthropic(
        api_key="k",
        base_url="http://127.0.0.1:9",
        http_client=httpx2.Client(transport=transport),
        max_retries=0,
    )


def openai_client(body: bytes, headers: dict[str, str] = SSE) -> openai.OpenAI:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, headers=headers, content=body)

    transport = httpx.MockTransport(handler)
    return openai.OpenAI(
        api_key="k",
        base_url="http://127.0.0.1:9/v1",
        http_client=httpx.Client(transport=transport),
        max_retries=0,
    )


def run_anthropic(
    events: Iterable[KiroEvent], thinking: bool = False, names: ToolNameMap | None = None
) -> tuple[AnthropicStream, bytes]:
    stream = AnthropicStream("claude-sonnet-4-5", 42, names or ToolNameMap(), thinking, 200_000)
    return stream, stream.start() + stream.ping() + b"".join(stream.feed(e) for e in events) + stream.finish()


def run_openai(
    events: Iterable[KiroEvent], thinking_format: ThinkingFormat = "reasoning_content"
) -> tuple[OpenAIStream, bytes]:
    stream = OpenAIStream("gpt-4o", 42, ToolNameMap(), True, thinking_format, True, 200_000)
    return stream, stream.start() + stream.ping() + b"".join(stream.feed(e) for e in events) + stream.finish()


ASK = {"model": "m", "max_tokens": 10, "messages": [{"role": "user", "content": "x"}]}
CHAT = {"model": "m", "messages": [{"role": "user", "content": "x"}]}


def test_anthropic_sdk_rebuilds_text_with_multibyte_characters() -> None:
    _stream, body = run_anthropic(kiro_events("text"))
    with anthropic_client(body).messages.stream(**ASK) as sdk_stream:
        message = sdk_stream.get_final_message()
    assert [b.type for b in message.content] == ["text"]
    assert message.content[0].text == eventstream_meta("text")["expected_text"]
    assert message.stop_reason == "end_turn"
    assert message.usage.input_tokens == 42 and message.usage.output_tokens > 0


def test_anthropic_sdk_rebuilds_tool_input_from_the_fragments() -> None:
    _stream, body = run_anthropic(kiro_events("tool_call"))
    with anthropic_client(body).messages.stream(**ASK) as sdk_stream:
        message = sdk_stream.get_final_message()
    text, tool = message.content
    assert text.type == "text" and tool.type == "tool_use"
    assert (tool.id, tool.name, tool.input) == (
        "tooluse_Q2xhdWRlVG9vbDAx",
        "get_weather",
        {"city": "Paris", "unit": "celsius"},
    )
    assert message.stop_reason == "tool_use"


def test_anthropic_sdk_gets_thinking_with_a_signature_then_text() -> None:
    _stream, body = run_anthropic(kiro_events("thinking"), thinking=True)
    with anthropic_client(body).messages.stream(**ASK) as sdk_stream:
        message = sdk_stream.get_final_message()
    thinking, text = message.content
    assert thinking.type == "thinking" and thinking.thinking == "The user wants 2+2. That is 4."
    assert thinking.signature
    assert text.type == "text" and text.text == "2 + 2 = 4."


def test_anthropic_sdk_low_level_iterator_sees_every_event_in_order() -> None:
    _stream, body = run_anthropic(kiro_events("parallel_tool_calls"))
    events = list(anthropic_client(body).messages.create(**ASK, stream=True))
    types = [e.type for e in events]
    assert types[0] == "message_start" and types[-2:] == ["message_delta", "message_stop"]
    starts = [e for e in events if e.type == "content_block_start"]
    assert [(s.index, s.content_block.name) for s in starts] == [(0, "read_file"), (1, "read_file")]


def test_anthropic_sdk_raises_on_an_in_band_error_with_status_200() -> None:
    _stream, body = run_anthropic(kiro_events("exception_midstream"))
    with (
        pytest.raises(anthropic.APIStatusError) as caught,
        anthropic_client(body).messages.stream(**ASK) as sdk,
    ):
        sdk.get_final_message()
    assert caught.value.status_code == 200
    assert caught.value.body["error"]["type"] == "rate_limit_error"


def test_anthropic_sdk_accepts_the_non_streaming_message() -> None:
    stream, _body = run_anthropic(kiro_events("tool_call"))
    client = anthropic_client(json.dumps(stream.result()).encode(), JSON)
    message = client.messages.create(**ASK)
    assert message.content[1].input == {"city": "Paris", "unit": "celsius"}
    assert message.stop_reason == "tool_use"
    assert message.usage.output_tokens == stream.usage.output_tokens


def test_anthropic_sdk_sees_the_clients_long_tool_name_not_the_shortened_one() -> None:
    names = ToolNameMap()
    long_name = "mcp__server__" + "x" * 80
    kiro_name = names.add(long_name)
    events = kiro_events("tool_call")
    renamed = [ToolUseStart(e.tool_use_id, kiro_name) if isinstance(e, ToolUseStart) else e for e in events]
    _stream, body = run_anthropic(renamed, names=names)
    with anthropic_client(body).messages.stream(**ASK) as sdk_stream:
        message = sdk_stream.get_final_message()
    assert message.content[1].name == long_name


def test_openai_sdk_stream_helper_rebuilds_parallel_tool_calls() -> None:
    _stream, body = run_openai(kiro_events("parallel_tool_calls"))
    with openai_client(body).chat.completions.stream(**CHAT) as sdk_stream:
        completion = sdk_stream.get_final_completion()
    choice = completion.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.content is None
    calls = choice.message.tool_calls or []
    assert [(c.id, c.function.name, json.loads(c.function.arguments)) for c in calls] == [
        (c["toolUseId"], c["name"], c["input"])
        for c in eventstream_meta("parallel_tool_calls")["expected_tool_calls"]
    ]
    assert completion.usage is not None and completion.usage.prompt_tokens == 42


def test_openai_sdk_raw_chunks_share_one_id_and_end_with_a_usage_chunk() -> None:
    _stream, body = run_openai(kiro_events("text"))
    chunks = list(openai_client(body).chat.completions.create(**CHAT, stream=True))
    assert len({c.id for c in chunks}) == 1
    assert chunks[0].choices[0].delta.role == "assistant"
    assert all(c.choices[0].delta.role is None for c in chunks[1:-1])
    assert chunks[-1].choices == [] and chunks[-1].usage is not None
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == eventstream_meta("text")["expected_text"]


@pytest.mark.parametrize(
    ("thinking_format", "content", "reasoning"),
    [
        ("reasoning_content", "2 + 2 = 4.", "The user wants 2+2. That is 4."),
        ("think_tags", "<think>\nThe user wants 2+2. That is 4.\n</think>\n\n2 + 2 = 4.", None),
        ("off", "2 + 2 = 4.", None),
    ],
)
def test_openai_thinking_formats(
    thinking_format: ThinkingFormat, content: str, reasoning: str | None
) -> None:
    stream, body = run_openai(kiro_events("thinking"), thinking_format)
    chunks = list(openai_client(body).chat.completions.create(**CHAT, stream=True))
    deltas = [c.choices[0].delta for c in chunks if c.choices]
    assert "".join(d.content or "" for d in deltas) == content
    streamed_reasoning = "".join(getattr(d, "reasoning_content", None) or "" for d in deltas) or None
    assert streamed_reasoning == reasoning
    message = stream.result()["choices"][0]["message"]
    assert (message["content"], message.get("reasoning_content")) == (content, reasoning)


def test_openai_sdk_raises_on_an_in_band_error_chunk() -> None:
    stream = OpenAIStream("gpt-4o", 1, ToolNameMap(), False, "off", False, 200_000)
    body = stream.start() + b"".join(stream.feed(e) for e in kiro_events("text")[:1])
    body += stream.error(FailureKind.UPSTREAM_ERROR, "Kiro went away")
    with pytest.raises(openai.APIError, match="Kiro went away"):
        list(openai_client(body).chat.completions.create(**CHAT, stream=True))


def test_openai_sdk_accepts_the_non_streaming_completion() -> None:
    stream, _body = run_openai(kiro_events("tool_call"))
    completion = openai_client(json.dumps(stream.result()).encode(), JSON).chat.completions.create(**CHAT)
    choice = completion.choices[0]
    assert choice.message.content == "Let me check the weather."
    assert choice.finish_reason == "tool_calls"
    assert json.loads(choice.message.tool_calls[0].function.arguments) == {"city": "Paris", "unit": "celsius"}
    assert (
        completion.usage.total_tokens == completion.usage.prompt_tokens + completion.usage.completion_tokens
    )


def test_thinking_tags_stream_and_whole_message_agree_when_a_tool_call_follows() -> None:
    """The held text block that shows the thinking closes before the tool call, in the stream too."""
    events: list[KiroEvent] = [
        TextDelta("<thinking>Check the wea"),
        TextDelta("ther.</thinking>\n\nLooking it up."),
        ToolUseStart("tu_1", "get_weather"),
        ToolUseInputDelta("tu_1", '{"city": "Paris"}'),
        ToolUseStop("tu_1", "get_weather", '{"city": "Paris"}', {"city": "Paris"}, None, "stop"),
    ]
    stream = AnthropicStream("m", 42, ToolNameMap(), True, 200_000, thinking_format="thinking_tags")
    body = stream.start() + b"".join(stream.feed(e) for e in events) + stream.finish()
    with anthropic_client(body).messages.stream(**ASK) as sdk_stream:
        message = sdk_stream.get_final_message()
    whole = stream.result()["content"]
    assert [b.model_dump(exclude_none=True) for b in message.content] == whole
    assert whole[0] == {"type": "text", "text": "<thinking>Check the weather.</thinking>\n\nLooking it up."}
    assert whole[1]["type"] == "tool_use" and whole[1]["input"] == {"city": "Paris"}
    starts = [e for _, e in sse_lines(body) if e.get("type") == "content_block_start"]
    stops = [e for _, e in sse_lines(body) if e.get("type") == "content_block_stop"]
    assert [e["index"] for e in starts] == [e["index"] for e in stops] == [0, 1]


def sse_lines(body: bytes) -> list[tuple[str, dict[str, object]]]:
    out = []
    for chunk in body.decode().split("\n\n"):
        lines = dict(line.split(": ", 1) for line in chunk.splitlines() if ": " in line)
        if "data" in lines:
            out.append((lines.get("event", ""), json.loads(lines["data"])))
    return out

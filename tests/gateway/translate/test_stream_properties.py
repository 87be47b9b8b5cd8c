"""Any sequence of Kiro events gives a well-formed stream (client-compat.md checklist A-19..23, O-38..44)."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from services.gateway.translate import AnthropicStream, OpenAIStream, ToolNameMap
from shared.kiro.events import (
    ContextUsage,
    KiroEvent,
    Metering,
    ReasoningDelta,
    StreamError,
    TextDelta,
    ToolUseInputDelta,
    ToolUseStart,
    ToolUseStop,
)
from tests.gateway.translate.sse import anthropic_events, openai_chunks

TEXT = st.text(alphabet='ab <>/thinkg\n{}"', max_size=12)


@st.composite
def tool_call(draw: st.DrawFn, index: int) -> list[KiroEvent]:
    tool_id, name = f"tooluse_{index}", draw(st.sampled_from(["read", "write"]))
    value = draw(st.dictionaries(st.text(max_size=3), st.text(max_size=5), max_size=2))
    raw = json.dumps(value)
    cuts = sorted(draw(st.lists(st.integers(0, len(raw)), max_size=3)))
    pieces = [raw[a:b] for a, b in zip([0, *cuts], [*cuts, len(raw)], strict=True)]
    events: list[KiroEvent] = [ToolUseStart(tool_id, name)]
    events += [ToolUseInputDelta(tool_id, p) for p in pieces if p]
    events.append(ToolUseStop(tool_id, name, raw, value, None, "stop"))
    return events


@st.composite
def kiro_answers(draw: st.DrawFn) -> list[KiroEvent]:
    events: list[KiroEvent] = []
    for index in range(draw(st.integers(0, 6))):
        kind = draw(st.sampled_from(["text", "text", "reasoning", "tool", "metering", "context"]))
        if kind == "text":
            events.append(TextDelta(draw(TEXT)))
        elif kind == "reasoning":
            events.append(ReasoningDelta(draw(TEXT)))
        elif kind == "tool":
            events += draw(tool_call(index))
        elif kind == "metering":
            events.append(Metering(0.01))
        else:
            events.append(ContextUsage(draw(st.floats(0, 120))))
    if draw(st.booleans()):
        events.append(StreamError("exception", draw(st.sampled_from(["ThrottlingException", "X"])), "e"))
    return events


def check_anthropic(events: list[dict[str, Any]]) -> None:
    assert events[0]["type"] == "message_start"
    open_index: int | None = None
    next_index = 0
    signatures = 0
    open_kind = ""
    for event in events[1:]:
        kind = event["type"]
        if kind == "content_block_start":
            assert open_index is None and event["index"] == next_index
            open_index, open_kind, signatures = event["index"], event["content_block"]["type"], 0
            if open_kind == "tool_use":
                assert event["content_block"]["input"] == {}
        elif kind == "content_block_delta":
            assert event["index"] == open_index
            signatures += event["delta"]["type"] == "signature_delta"
        elif kind == "content_block_stop":
            assert event["index"] == open_index
            if open_kind == "thinking":
                assert signatures == 1
            open_index, next_index = None, next_index + 1
    last = events[-1]["type"]
    if last == "error":
        assert "message_stop" not in [e["type"] for e in events]
    else:
        assert [e["type"] for e in events[-2:]] == ["message_delta", "message_stop"] and open_index is None
        assert events[-2]["delta"]["stop_reason"] in {
            "end_turn",
            "tool_use",
            "max_tokens",
            "model_context_window_exceeded",
        }


def check_openai(chunks: list[Any]) -> None:
    if len(chunks) == 1 and "error" in chunks[0]:
        return  # failed before any output: the error alone
    ids = {c["id"] for c in chunks if isinstance(c, dict) and "id" in c}
    assert len(ids) == 1
    first = chunks[0]["choices"][0]["delta"]
    assert first["role"] == "assistant"
    # content "" opens a text answer (as OpenAI's own), null a tool call or reasoning
    assert first["content"] == ("" if _first_output(chunks[1:]) in ("content", None) else None)
    opened: list[int] = []
    for chunk in chunks[1:]:
        if chunk == "[DONE]" or "error" in chunk or not chunk["choices"]:
            continue
        delta = chunk["choices"][0]["delta"]
        assert "role" not in delta
        for call in delta.get("tool_calls", []):
            if "id" in call:
                assert (
                    call["index"] == len(opened) and call["type"] == "function" and call["function"]["name"]
                )
                opened.append(call["index"])
            else:
                assert call["index"] == opened[-1]
    if "error" in chunks[-1]:
        assert "[DONE]" not in chunks
    else:
        assert chunks[-1] == "[DONE]" and chunks[-2]["choices"] == [] and "usage" in chunks[-2]
        finish = chunks[-3]["choices"][0]["finish_reason"]
        assert finish in {"stop", "length", "tool_calls"}
        assert (finish == "tool_calls") == (bool(opened) and finish != "length")


def _first_output(chunks: list[Any]) -> str | None:
    """Which delta field carries the answer's first output (`content`, `tool_calls`, ...), if any."""
    for chunk in chunks:
        if isinstance(chunk, dict) and chunk.get("choices"):
            fields = [f for f in chunk["choices"][0]["delta"] if f != "refusal"]
            if fields:
                return str(fields[0])
    return None


@settings(max_examples=150, deadline=None)
@given(events=kiro_answers(), thinking=st.booleans())
def test_any_event_sequence_gives_a_well_formed_anthropic_stream(
    events: list[KiroEvent], thinking: bool
) -> None:
    stream = AnthropicStream("m", 5, ToolNameMap(), thinking, 200_000)
    body = stream.start() + b"".join(stream.feed(e) for e in events) + stream.finish()
    check_anthropic(anthropic_events(body))


@settings(max_examples=150, deadline=None)
@given(
    events=kiro_answers(),
    thinking=st.booleans(),
    fmt=st.sampled_from(["reasoning_content", "think_tags", "off"]),
)
def test_any_event_sequence_gives_a_well_formed_openai_stream(
    events: list[KiroEvent], thinking: bool, fmt: Any
) -> None:
    stream = OpenAIStream("m", 5, ToolNameMap(), thinking, fmt, True, 200_000)
    body = stream.start() + b"".join(stream.feed(e) for e in events) + stream.finish()
    check_openai(openai_chunks(body))

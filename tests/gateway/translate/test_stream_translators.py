"""Behaviour of the stream translators beyond the golden shapes: tools, truncation, usage, errors."""

from __future__ import annotations

import json

from services.gateway.translate import (
    AnthropicCollector,
    AnthropicStream,
    OpenAICollector,
    OpenAIStream,
    ToolNameMap,
)
from shared.errors import FailureKind
from shared.kiro.events import (
    ContextUsage,
    KiroEvent,
    MessageMetadata,
    ReasoningDelta,
    StreamError,
    TextDelta,
    TokenUsage,
    ToolUseInputDelta,
    ToolUseStart,
    ToolUseStop,
    UnknownEvent,
)
from tests.gateway.translate.fixtures import eventstream_meta, kiro_events
from tests.gateway.translate.sse import anthropic_events, openai_chunks


def anthropic(thinking: bool = False) -> AnthropicStream:
    return AnthropicStream("claude-sonnet-4-5", 100, ToolNameMap(), thinking, 200_000)


def openai(include_usage: bool = True) -> OpenAIStream:
    return OpenAIStream("gpt-4o", 100, ToolNameMap(), False, "reasoning_content", include_usage, 200_000)


def run(stream: AnthropicStream | OpenAIStream, events: list[KiroEvent]) -> bytes:
    return stream.start() + b"".join(stream.feed(e) for e in events) + stream.finish()


def stop(tool_use_id: str, name: str, valid: bool = True) -> ToolUseStop:
    if valid:
        return ToolUseStop(tool_use_id, name, "{}", {}, None, "stop")
    return ToolUseStop(tool_use_id, name, "{", None, "not JSON", "end_of_stream")


def tool(tool_use_id: str, name: str, *fragments: str) -> list[KiroEvent]:
    return [
        ToolUseStart(tool_use_id, name),
        *(ToolUseInputDelta(tool_use_id, f) for f in fragments),
        stop(tool_use_id, name),
    ]


def test_text_then_parallel_tool_calls_get_consecutive_indices_in_both_protocols() -> None:
    events = [TextDelta("Checking."), *tool("a", "f", '{"x":1}'), *tool("b", "g", '{"y":', "2}")]
    blocks = [e for e in anthropic_events(run(anthropic(), events)) if e["type"] == "content_block_start"]
    assert [(b["index"], b["content_block"]["type"]) for b in blocks] == [
        (0, "text"),
        (1, "tool_use"),
        (2, "tool_use"),
    ]

    chunks = [c for c in openai_chunks(run(openai(), events)) if c != "[DONE]" and c["choices"]]
    opened = [call for c in chunks for call in c["choices"][0]["delta"].get("tool_calls", []) if "id" in call]
    assert [(c["index"], c["id"], c["function"]["name"]) for c in opened] == [(0, "a", "f"), (1, "b", "g")]
    later = [
        call for c in chunks for call in c["choices"][0]["delta"].get("tool_calls", []) if "id" not in call
    ]
    assert all(
        set(call) == {"index", "function"} and set(call["function"]) == {"arguments"} for call in later
    )


def test_text_after_a_tool_call_opens_a_new_text_block() -> None:
    events = [*tool("a", "f", "{}"), TextDelta("done")]
    starts = [e for e in anthropic_events(run(anthropic(), events)) if e["type"] == "content_block_start"]
    assert [s["content_block"]["type"] for s in starts] == ["tool_use", "text"]


def cut_write_call(stream: AnthropicStream) -> bytes:
    out = stream.start()
    for event in [
        TextDelta("Writing."),
        ToolUseStart("t1", "Write"),
        ToolUseInputDelta("t1", '{"content": "a{b'),
    ]:
        out += stream.feed(event)
    out += stream.feed(stop("t1", "Write", valid=False))  # what the parser says when the stream ends
    assert stream.has_truncated_tool_call
    assert stream.partial_tool_call() == ("t1", "Write", '{"content": "a{b')
    return out


def assert_one_complete_write_call(out: bytes, content: str) -> list[dict]:  # type: ignore[type-arg]
    events = anthropic_events(out)
    starts = [e["content_block"] for e in events if e["type"] == "content_block_start"]
    assert [s.get("id") for s in starts][:2] == [None, "t1"]
    fragments = "".join(
        e["delta"].get("partial_json", "")
        for e in events
        if e["type"] == "content_block_delta" and e["index"] == 1
    )
    assert json.loads(fragments) == {"content": content}
    return events


def test_a_cut_tool_call_continued_under_the_same_tool_use_id_completes_as_one_call() -> None:
    stream = anthropic()
    out = cut_write_call(stream)
    for event in [ToolUseStart("t1", "Write"), ToolUseInputDelta("t1", 'c}"}'), stop("t1", "Write")]:
        out += stream.feed(event)
    assert not stream.has_truncated_tool_call
    events = assert_one_complete_write_call(out + stream.finish(), "a{bc}")
    assert events[-2]["delta"]["stop_reason"] == "tool_use"


def test_a_cut_tool_call_continued_as_text_takes_the_text_up_to_the_end_of_the_json() -> None:
    stream = anthropic()
    out = cut_write_call(stream)
    out += stream.feed(TextDelta("c}"))
    assert stream.has_truncated_tool_call
    out += stream.feed(TextDelta('"} \nDone, file written.'))
    assert not stream.has_truncated_tool_call
    events = assert_one_complete_write_call(out + stream.finish(), "a{bc}")
    assert stream.result()["content"][-1] == {"type": "text", "text": " \nDone, file written."}
    assert events[-2]["delta"]["stop_reason"] == "tool_use"


def test_a_tool_call_left_cut_ends_with_max_tokens_and_is_never_reported_as_empty_input() -> None:
    events = [
        ToolUseStart("t1", "Write"),
        ToolUseInputDelta("t1", '{"content": "ab'),
        stop("t1", "Write", False),
    ]
    stream = anthropic()
    body = run(stream, events)
    assert anthropic_events(body)[-2]["delta"]["stop_reason"] == "max_tokens"
    result = stream.result()
    assert result["stop_reason"] == "max_tokens"
    assert result["content"][0]["type"] == "text" and "Write" in result["content"][0]["text"]

    chat = openai()
    chunks = openai_chunks(run(chat, events))
    assert chunks[-3]["choices"][0]["finish_reason"] == "length"
    assert chat.result()["choices"][0]["finish_reason"] == "length"


def test_content_length_exceeded_in_the_stream_is_a_max_tokens_stop_not_an_error() -> None:
    stream = anthropic()
    body = run(
        stream,
        [TextDelta("long answer"), StreamError("exception", "ContentLengthExceededException", "too long")],
    )
    events = anthropic_events(body)
    assert "error" not in [e["type"] for e in events]
    assert events[-2]["delta"]["stop_reason"] == "max_tokens"
    assert stream.failure is None


def test_an_exception_frame_becomes_one_error_event_and_nothing_follows() -> None:
    stream = anthropic()
    body = stream.start() + stream.feed(TextDelta("partial"))
    body += stream.feed(StreamError("exception", "InternalServerException", "boom"))
    body += (
        stream.feed(TextDelta("later")) + stream.finish() + stream.error(FailureKind.UPSTREAM_ERROR, "again")
    )
    events = anthropic_events(body)
    assert events[-1] == {"type": "error", "error": {"type": "overloaded_error", "message": "boom"}}
    assert [e["type"] for e in events].count("error") == 1
    assert "later" not in body.decode() and "message_stop" not in body.decode()
    assert stream.failure is FailureKind.UPSTREAM_ERROR


def test_throttling_in_the_stream_is_reported_as_throttled() -> None:
    stream = openai()
    body = run(stream, [StreamError("exception", "ThrottlingException", "slow down")])
    assert stream.failure is FailureKind.THROTTLED
    error = openai_chunks(body)[-1]
    assert error["error"]["type"] == "rate_limit_exceeded" and error["error"]["message"] == "slow down"
    assert "[DONE]" not in openai_chunks(body)


def test_a_suspension_in_the_stream_is_reported_as_suspended_with_kiros_reason() -> None:
    stream = anthropic()
    message = "Your account has been temporarily suspended. Please contact support to appeal."
    body = run(stream, [TextDelta("partial"), StreamError("exception", "AccessDeniedException", message)])
    assert stream.failure is FailureKind.SUSPENDED
    assert stream.failure_reason == f"Kiro AccessDeniedException: {message}"
    assert anthropic_events(body)[-1]["error"] == {"type": "permission_error", "message": message}


def test_context_usage_sets_input_tokens_and_metering_adds_credits() -> None:
    meta = eventstream_meta("metering_context")
    stream = anthropic()
    body = run(stream, kiro_events("metering_context"))
    assert stream.usage.input_tokens == meta["estimated_input_tokens_200k_window"]
    assert stream.usage.credits == meta["expected_credits"]
    assert anthropic_events(body)[-2]["usage"] == {
        "input_tokens": meta["estimated_input_tokens_200k_window"],
        "output_tokens": stream.usage.output_tokens,
    }


def test_without_context_usage_the_estimate_given_at_construction_is_reported() -> None:
    stream = openai()
    chunks = openai_chunks(run(stream, [TextDelta("hi")]))
    usage = chunks[-2]["usage"]
    assert usage["prompt_tokens"] == 100 and usage["completion_tokens"] == stream.usage.output_tokens >= 1
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]


def test_full_context_window_ends_with_model_context_window_exceeded() -> None:
    stream = anthropic()
    run(stream, [TextDelta("x"), ContextUsage(100.0)])
    assert stream.stop_reason == "model_context_window_exceeded"
    assert stream.usage.input_tokens == 200_000


def test_token_usage_in_message_metadata_wins_over_estimates() -> None:
    stream = anthropic()
    usage = TokenUsage(
        output_tokens=77, uncached_input_tokens=10, cache_read_input_tokens=5, cache_write_input_tokens=1
    )
    run(stream, [TextDelta("hi"), MessageMetadata("c", "u", usage)])
    assert (stream.usage.input_tokens, stream.usage.output_tokens) == (16, 77)


def test_output_tokens_grow_with_the_answer() -> None:
    short, long = anthropic(), anthropic()
    run(short, [TextDelta("hi")])
    run(long, [TextDelta("hi " * 500), *tool("t", "f", json.dumps({"k": "v" * 200}))])
    assert 1 <= short.usage.output_tokens < long.usage.output_tokens


def test_without_usage_requested_no_usage_chunk_and_no_usage_fields() -> None:
    chunks = openai_chunks(run(openai(include_usage=False), [TextDelta("hi")]))
    assert chunks[-1] == "[DONE]"
    assert all("usage" not in c for c in chunks[:-1])
    assert chunks[-2]["choices"][0]["finish_reason"] == "stop"


def test_thinking_tags_pass_through_as_text_when_thinking_was_not_requested() -> None:
    stream = anthropic(thinking=False)
    run(stream, kiro_events("thinking"))
    assert [b["type"] for b in stream.result()["content"]] == ["text"]
    assert stream.result()["content"][0]["text"] == eventstream_meta("thinking")["expected_raw_text"]


def test_native_reasoning_events_become_a_thinking_block_with_kiros_signature() -> None:
    stream = anthropic()
    run(stream, [ReasoningDelta("let me see"), ReasoningDelta("", "sig-from-kiro"), TextDelta("answer")])
    thinking, text = stream.result()["content"]
    assert thinking == {"type": "thinking", "thinking": "let me see", "signature": "sig-from-kiro"}
    assert text == {"type": "text", "text": "answer"}


def test_every_thinking_block_gets_exactly_one_signature_delta_before_it_stops() -> None:
    events = anthropic_events(run(anthropic(thinking=True), kiro_events("thinking")))
    block0 = [e for e in events if e.get("index") == 0]
    kinds = [e["delta"]["type"] if e["type"] == "content_block_delta" else e["type"] for e in block0]
    assert kinds.count("signature_delta") == 1
    assert kinds[-2:] == ["signature_delta", "content_block_stop"]


def test_unknown_events_change_nothing() -> None:
    stream = anthropic()
    assert stream.feed(UnknownEvent("event", "followupPromptEvent", b"{}", "unknown event type")) == b""
    run(stream, [TextDelta("a")])
    assert stream.result()["content"] == [{"type": "text", "text": "a"}]


def test_pings_are_an_anthropic_event_and_an_openai_comment() -> None:
    assert anthropic().ping() == b'event: ping\ndata: {"type":"ping"}\n\n'
    assert openai().ping() == b": ping\n\n"


def test_nothing_is_emitted_after_finish() -> None:
    stream = openai()
    run(stream, [TextDelta("a")])
    assert stream.feed(TextDelta("b")) == b"" and stream.finish() == b""
    assert stream.error(FailureKind.UPSTREAM_ERROR, "late") == b""
    assert stream.failure is None


def test_tool_names_shortened_for_kiro_come_back_as_the_clients_names() -> None:
    names = ToolNameMap()
    long_name = "server." + "operation" * 10
    kiro_name = names.add(long_name)
    stream = OpenAIStream("gpt-4o", 1, names, False, "off", False, 200_000)
    run(stream, tool("t", kiro_name, "{}"))
    assert stream.result()["choices"][0]["message"]["tool_calls"][0]["function"]["name"] == long_name


def test_collectors_render_nothing_and_reply_like_the_stream_translators() -> None:
    events: list[KiroEvent] = [TextDelta("Hello "), TextDelta("world"), *tool("t1", "ls", '{"path":', '"."}')]
    streamed_a, collected_a = (
        anthropic(),
        AnthropicCollector("claude-sonnet-4-5", 100, ToolNameMap(), False, 200_000),
    )
    run(streamed_a, events)
    assert b"".join(collected_a.feed(e) for e in events) + collected_a.finish() == b""
    assert {**collected_a.result(), "id": "-"} == {**streamed_a.result(), "id": "-"}
    streamed_o = openai()
    collected_o = OpenAICollector("gpt-4o", 100, ToolNameMap(), False, "reasoning_content", True, 200_000)
    run(streamed_o, events)
    assert b"".join(collected_o.feed(e) for e in events) + collected_o.finish() == b""
    assert {**collected_o.result(), "id": "-", "created": 0} == {
        **streamed_o.result(),
        "id": "-",
        "created": 0,
    }


def test_a_server_tool_call_streams_as_server_tool_use_and_its_result_follows() -> None:
    stream = anthropic()
    stream.server_tools = frozenset({"web_search"})
    out = stream.start() + b"".join(
        stream.feed(e) for e in [TextDelta("Looking."), *tool("k1", "web_search", '{"query":', '"q"}')]
    )
    out += stream.end_round()
    stream.web_search_requests = 1
    out += stream.add_server_result(stream.blocks[1].client_id, [])
    out += b"".join(stream.feed(e) for e in [TextDelta("Done.")]) + stream.finish()
    events = anthropic_events(out)
    starts = [e["content_block"] for e in events if e["type"] == "content_block_start"]
    assert [s["type"] for s in starts] == ["text", "server_tool_use", "web_search_tool_result", "text"]
    assert starts[1]["id"].startswith("srvtoolu_") and starts[2]["tool_use_id"] == starts[1]["id"]
    indices = [e["index"] for e in events if e["type"] == "content_block_start"]
    assert indices == [0, 1, 2, 3]
    delta = next(e for e in events if e["type"] == "message_delta")
    assert delta["delta"]["stop_reason"] == "end_turn"
    assert delta["usage"]["server_tool_use"] == {"web_search_requests": 1, "web_fetch_requests": 0}
    result = stream.result()
    assert result["content"][1] == {
        "type": "server_tool_use",
        "id": starts[1]["id"],
        "name": "web_search",
        "input": {"query": "q"},
    }


def test_without_server_tools_a_web_search_call_is_an_ordinary_tool_use() -> None:
    collector = AnthropicCollector("m", 100, ToolNameMap(), False, 200_000)
    run(collector, tool("k1", "web_search", '{"query":"q"}'))
    assert [b["type"] for b in collector.result()["content"]] == ["tool_use"]
    assert "server_tool_use" not in collector.result()["usage"]

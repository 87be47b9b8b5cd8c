"""Frames → typed Kiro events: fixtures, tool-call reassembly rules and in-stream errors."""

from __future__ import annotations

import orjson
import pytest

from shared.errors import EventStreamError
from shared.kiro.events import (
    ContextUsage,
    KiroEvent,
    KiroEventParser,
    KiroEventStream,
    MessageMetadata,
    Metering,
    ReasoningDelta,
    StreamError,
    TextDelta,
    TokenUsage,
    ToolUseInputDelta,
    ToolUseStart,
    ToolUseStop,
    UnknownEvent,
    parse_stream,
)
from shared.kiro.eventstream import EventStreamDecoder, Frame, encode_event, encode_exception, encode_frame
from tests.shared.kiro.fixtures import chunks, load


def text_of(events: list[KiroEvent]) -> str:
    return "".join(event.text for event in events if isinstance(event, TextDelta))


def stops(events: list[KiroEvent]) -> list[ToolUseStop]:
    return [event for event in events if isinstance(event, ToolUseStop)]


def tool(tool_use_id: str, name: str = "f", **fields: object) -> bytes:
    return encode_event("toolUseEvent", {"toolUseId": tool_use_id, "name": name, **fields})


def text(content: str) -> bytes:
    return encode_event("assistantResponseEvent", {"content": content})


@pytest.mark.parametrize("size", [1, 7, None])
def test_text_fixture_yields_the_whole_answer_with_multibyte_characters(size: int | None) -> None:
    data, expected = load("text")
    events = parse_stream(chunks(data, size or len(data)))
    assert all(isinstance(event, TextDelta) for event in events)
    assert text_of(events) == expected["expected_text"]


def test_thinking_fixture_passes_the_raw_tagged_text_through_unchanged() -> None:
    data, expected = load("thinking")
    events = parse_stream(chunks(data, 7))
    assert text_of(events) == expected["expected_raw_text"]
    assert [event.text for event in events if isinstance(event, TextDelta)][:2] == [
        "<think",
        "ing>The user wants 2+2. ",
    ]


@pytest.mark.parametrize("name", ["tool_call", "parallel_tool_calls"])
def test_tool_call_fixtures_reassemble_each_input_in_first_seen_order(name: str) -> None:
    data, expected = load(name)
    events = parse_stream(chunks(data, 7))
    assert [
        {"toolUseId": stop.tool_use_id, "name": stop.name, "input": stop.input} for stop in stops(events)
    ] == expected["expected_tool_calls"]
    assert all(stop.closed_by == "stop" and stop.input_error is None for stop in stops(events))


def test_tool_call_streams_start_fragments_and_stop_in_order() -> None:
    data, _ = load("tool_call")
    events = parse_stream([data])
    assert events[0] == TextDelta("Let me check the weather.")
    assert events[1] == ToolUseStart("tooluse_Q2xhdWRlVG9vbDAx", "get_weather")
    fragments = [event.fragment for event in events if isinstance(event, ToolUseInputDelta)]
    assert fragments == ['{"city": "Par', 'is", "unit": ', '"celsius"}']  # the empty first input adds none
    assert isinstance(events[-1], ToolUseStop)
    assert events[-1].input_json == '{"city": "Paris", "unit": "celsius"}'


def test_parallel_tool_calls_stay_apart() -> None:
    data, _ = load("parallel_tool_calls")
    events = parse_stream([data])
    kinds = [(type(event).__name__, getattr(event, "tool_use_id", None)[-1:]) for event in events]
    assert kinds == [
        ("ToolUseStart", "A"), ("ToolUseInputDelta", "A"), ("ToolUseInputDelta", "A"), ("ToolUseStop", "A"),
        ("ToolUseStart", "B"), ("ToolUseInputDelta", "B"), ("ToolUseInputDelta", "B"), ("ToolUseStop", "B"),
    ]  # fmt: skip


def test_metering_and_context_usage_fixture_reports_credits_and_percentage() -> None:
    data, expected = load("metering_context")
    events = parse_stream([data])
    assert text_of(events) == expected["expected_text"]
    assert Metering(expected["expected_credits"], "credit", "credits") in events
    assert ContextUsage(expected["expected_context_usage_percentage"]) in events


def test_exception_midstream_surfaces_one_error_and_nothing_after_it() -> None:
    data, expected = load("exception_midstream")
    events = parse_stream(chunks(data, 7))
    assert events == [
        TextDelta(expected["expected_text_before_error"]),
        StreamError(
            "exception",
            expected["expected_error"]["exception_type"],
            "Too many requests, please wait before trying again.",
        ),
    ]


def test_truncated_fixture_raises_after_its_complete_frames_were_parsed() -> None:
    data, expected = load("truncated")
    stream = KiroEventStream()
    events = stream.feed(data)
    assert events == [
        TextDelta("Let me check the weather."),
        ToolUseStart("tooluse_Q2xhdWRlVG9vbDAx", "get_weather"),
    ]
    with pytest.raises(EventStreamError, match=expected["expected_decode_error"]):
        stream.close()


def test_events_before_corruption_come_out_and_the_stream_reports_failed() -> None:
    damaged = bytearray(text("second"))
    damaged[-1] ^= 0xFF
    stream = KiroEventStream()
    assert stream.feed(text("first") + bytes(damaged)) == [TextDelta("first")]
    assert stream.failed
    with pytest.raises(EventStreamError, match="message CRC mismatch"):
        stream.close()


def test_corrupt_fixture_raises_event_stream_error() -> None:
    data, _ = load("corrupt_prelude_crc")
    with pytest.raises(EventStreamError, match="prelude CRC mismatch at offset 0"):
        parse_stream([data])


def test_repeated_identical_text_deltas_are_all_kept() -> None:
    assert parse_stream([text("\n"), text("\n"), text("ok"), text("ok")]) == [
        TextDelta("\n"), TextDelta("\n"), TextDelta("ok"), TextDelta("ok"),
    ]  # fmt: skip


def test_empty_text_delta_produces_no_event() -> None:
    assert parse_stream([text(""), text("a")]) == [TextDelta("a")]


def test_object_input_is_serialised_and_empty_object_means_no_fragment() -> None:
    events = parse_stream([tool("t1", input={}), tool("t1", input={"a": [1, "é"]}), tool("t1", stop=True)])
    assert [e.fragment for e in events if isinstance(e, ToolUseInputDelta)] == ['{"a":[1,"é"]}']
    assert stops(events)[0].input == {"a": [1, "é"]}


def test_new_tool_use_id_before_stop_closes_the_previous_call() -> None:
    events = parse_stream(
        [tool("t1", input='{"x":1}'), tool("t2", "g", input='{"y":2}'), tool("t2", "g", stop=True)]
    )
    first, second = stops(events)
    assert (first.tool_use_id, first.input, first.closed_by) == ("t1", {"x": 1}, "next_tool")
    assert (second.tool_use_id, second.name, second.input, second.closed_by) == ("t2", "g", {"y": 2}, "stop")
    assert events.index(first) < events.index(ToolUseStart("t2", "g"))


def test_end_of_stream_closes_an_open_call() -> None:
    events = parse_stream([tool("t1", input='{"x":'), tool("t1", input="1}")])
    (stop,) = stops(events)
    assert events[-1] is stop
    assert (stop.input, stop.closed_by) == ({"x": 1}, "end_of_stream")


def test_tool_call_without_input_gets_an_empty_object() -> None:
    (stop,) = stops(parse_stream([tool("t1", input=""), tool("t1", stop=True)]))
    assert (stop.input_json, stop.input, stop.input_error) == ("{}", {}, None)


def test_stop_as_the_only_frame_still_starts_and_stops_the_call() -> None:
    assert parse_stream([tool("t1", stop=True)]) == [
        ToolUseStart("t1", "f"),
        ToolUseStop("t1", "f", "{}", {}, None, "stop"),
    ]


def test_a_name_sent_only_after_the_first_frame_reaches_the_stop_event() -> None:
    (stop,) = stops(parse_stream([tool("t1", "", input="{}"), tool("t1", "late_name", stop=True)]))
    assert stop.name == "late_name"


def test_unparseable_tool_input_is_flagged_not_replaced_by_an_empty_object() -> None:
    (stop,) = stops(parse_stream([tool("t1", input='{"content": "very long fi'), tool("t1", stop=True)]))
    assert stop.input is None
    assert stop.input_json == '{"content": "very long fi'
    assert stop.input_error is not None and "not valid JSON" in stop.input_error


def test_tool_input_that_is_not_an_object_is_flagged() -> None:
    (stop,) = stops(parse_stream([tool("t1", input="[1, 2]"), tool("t1", stop=True)]))
    assert stop.input is None and stop.input_error == "tool input is JSON list, not an object"


def test_frames_for_an_already_stopped_call_are_ignored_as_duplicates() -> None:
    events = parse_stream(
        [tool("t1", input="{}"), tool("t1", stop=True), tool("t1", stop=True), text("done")]
    )
    assert len(stops(events)) == 1 and events[-1] == TextDelta("done")


def test_parser_lists_finished_tool_calls_in_first_seen_order() -> None:
    data, _ = load("parallel_tool_calls")
    decoder = EventStreamDecoder()
    parser = KiroEventParser()
    parser.feed_all(decoder.feed(data))
    assert [call.tool_use_id[-1] for call in parser.tool_calls] == ["A", "B"]
    assert [call.input for call in parser.tool_calls] == [{"path": "a.txt"}, {"path": "b.txt"}]


def test_metadata_with_and_without_token_usage() -> None:
    events = parse_stream(
        [
            encode_event("messageMetadataEvent", {"conversationId": "c1", "utteranceId": "u1"}),
            encode_event(
                "metadataEvent",
                {"tokenUsage": {"outputTokens": 12, "uncachedInputTokens": 30, "cacheReadInputTokens": 5}},
            ),
        ]
    )
    assert events == [
        MessageMetadata("c1", "u1", None),
        MessageMetadata(None, None, TokenUsage(12, 30, 5, 0)),
    ]


def test_native_reasoning_content_becomes_reasoning_deltas() -> None:
    events = parse_stream(
        [
            encode_event("reasoningContentEvent", {"text": "Let me think"}),
            encode_event("reasoningContentEvent", {"signature": "sig=="}),
        ]
    )
    assert events == [ReasoningDelta("Let me think"), ReasoningDelta("", "sig==")]


def test_error_frame_uses_its_code_and_message_headers() -> None:
    frame = encode_frame(
        [(":message-type", "error"), (":error-code", "InternalError"), (":error-message", "boom")], b""
    )
    assert parse_stream([text("a"), frame, text("b")]) == [
        TextDelta("a"),
        StreamError("error", "InternalError", "boom"),
    ]


def test_exception_with_a_non_json_payload_keeps_the_text() -> None:
    frame = encode_frame([(":message-type", "exception"), (":exception-type", "Oops")], b"plain words")
    assert parse_stream([frame]) == [StreamError("exception", "Oops", "plain words")]


def test_invalid_state_event_is_an_error() -> None:
    frame = encode_event("invalidStateEvent", {"reason": "INVALID_TASK_ASSIST_PLAN", "message": "bad plan"})
    assert parse_stream([frame]) == [StreamError("invalid_state", "INVALID_TASK_ASSIST_PLAN", "bad plan")]


def test_error_abandons_an_open_tool_call() -> None:
    events = parse_stream([tool("t1", input='{"a"'), encode_exception("ThrottlingException", "slow")])
    assert stops(events) == [] and isinstance(events[-1], StreamError)


def test_unknown_event_and_message_types_are_kept_not_dropped() -> None:
    payload = {"followupPrompt": {"content": "more?"}}
    events = parse_stream(
        [encode_event("followupPromptEvent", payload), encode_frame([(":message-type", "surprise")], b"x")]
    )
    assert events == [
        UnknownEvent("event", "followupPromptEvent", orjson.dumps(payload), "unknown event type"),
        UnknownEvent("surprise", None, b"x", "unknown message type"),
    ]


@pytest.mark.parametrize(
    ("event_type", "payload"),
    [
        ("assistantResponseEvent", {"content": 5}),
        ("toolUseEvent", {"name": "f", "input": "{}"}),
        ("meteringEvent", {"usage": "lots"}),
        ("contextUsageEvent", {}),
        ("reasoningContentEvent", {}),
    ],
)
def test_known_event_with_unexpected_fields_comes_out_as_unknown(
    event_type: str, payload: dict[str, object]
) -> None:
    (event,) = parse_stream([encode_event(event_type, payload)])
    assert isinstance(event, UnknownEvent) and event.event_type == event_type


@pytest.mark.parametrize("payload", [b"not json", b"[1, 2]", b'{"content": "cut'])
def test_known_event_whose_payload_is_not_a_json_object_raises(payload: bytes) -> None:
    frame = encode_frame([(":event-type", "assistantResponseEvent"), (":message-type", "event")], payload)
    with pytest.raises(EventStreamError, match="assistantResponseEvent payload is not"):
        parse_stream([frame])


def test_finish_is_idempotent_and_later_frames_are_ignored() -> None:
    parser = KiroEventParser()
    parser.feed(
        Frame({":message-type": "event", ":event-type": "toolUseEvent"}, b'{"toolUseId":"t","name":"f"}')
    )
    assert len(parser.finish()) == 1
    assert parser.finish() == []
    assert (
        parser.feed(
            Frame({":message-type": "event", ":event-type": "assistantResponseEvent"}, b'{"content":"x"}')
        )
        == []
    )

"""Client stop sequences end the answer where they first appear, even when split across deltas."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from services.gateway.translate import AnthropicStream, OpenAIStream, ToolNameMap
from services.gateway.translate.stops import StopMatcher
from shared.kiro.events import TextDelta, ToolUseStart
from tests.gateway.translate.sse import anthropic_events, openai_chunks


def anthropic(*stops: str) -> AnthropicStream:
    return AnthropicStream("m", 1, ToolNameMap(), False, 200_000, stop_sequences=stops)


def test_anthropic_answer_stops_at_a_sequence_split_across_deltas() -> None:
    stream = anthropic("END")
    body = stream.start()
    for text in ["one two E", "N", "D three", " four"]:
        body += stream.feed(TextDelta(text))
    body += stream.feed(ToolUseStart("t", "f")) + stream.finish()
    events = anthropic_events(body)
    text = "".join(e["delta"]["text"] for e in events if e["type"] == "content_block_delta")
    assert text == "one two "
    assert events[-2]["delta"] == {"stop_reason": "stop_sequence", "stop_sequence": "END"}
    assert stream.result()["stop_sequence"] == "END"
    assert [e["content_block"]["type"] for e in events if e["type"] == "content_block_start"] == ["text"]


def test_text_held_back_for_a_possible_sequence_is_released_when_it_is_not_one() -> None:
    stream = anthropic("END")
    body = stream.start() + stream.feed(TextDelta("the E"))
    assert b"the E" not in body
    body += stream.feed(TextDelta("nd")) + stream.finish()
    assert (
        "".join(e["delta"]["text"] for e in anthropic_events(body) if e["type"] == "content_block_delta")
        == "the End"
    )
    assert stream.stop_reason == "end_turn" and stream.stop_sequence is None


def test_openai_stop_ends_with_finish_reason_stop() -> None:
    stream = OpenAIStream("m", 1, ToolNameMap(), False, "off", False, 200_000, stop_sequences=["\n\n"])
    body = (
        stream.start() + stream.feed(TextDelta("line\n")) + stream.feed(TextDelta("\nmore")) + stream.finish()
    )
    chunks = openai_chunks(body)
    assert "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks[:-1]) == "line"
    assert chunks[-2]["choices"][0]["finish_reason"] == "stop"


def test_the_earliest_sequence_wins() -> None:
    matcher = StopMatcher(["world", "o w"])
    assert matcher.feed("hello world") == "hell"
    assert matcher.matched == "o w"


@given(
    text=st.text(alphabet="abE", max_size=30),
    cuts=st.lists(st.integers(0, 30), max_size=5),
)
def test_any_chunking_emits_exactly_the_text_before_the_first_match(text: str, cuts: list[int]) -> None:
    matcher = StopMatcher(["EE", "bab"])
    points = sorted({min(c, len(text)) for c in cuts})
    chunks = [text[a:b] for a, b in zip([0, *points], [*points, len(text)], strict=True)]
    emitted = "".join(matcher.feed(c) for c in chunks) + (matcher.flush() if matcher.matched is None else "")
    ends = [i for i in (text.find("EE"), text.find("bab")) if i >= 0]
    assert emitted == (text[: min(ends)] if ends else text)

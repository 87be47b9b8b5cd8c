"""The translators reproduce the golden SSE transcripts (after normalising ids, names, counts, signatures).

Two sources of events per golden: events built from the golden itself (same fragments, so every
value must match), and where a Kiro fixture of the same shape exists, the events the shared codec
decodes from its `.bin` (the golden's shape with the fixture's values).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

import pytest

from services.gateway.translate import AnthropicStream, OpenAIStream, ToolNameMap
from shared.errors import FailureKind
from shared.kiro.events import KiroEvent
from tests.gateway.translate.fixtures import eventstream_meta, golden, kiro_events
from tests.gateway.translate.sse import (
    events_from_anthropic,
    events_from_openai,
    normalise_anthropic,
    normalise_openai,
)


def anthropic_sse(events: Iterable[KiroEvent], *, thinking: bool = False, error: str | None = None) -> bytes:
    stream = AnthropicStream("claude-sonnet-4-5-20250929", 25, ToolNameMap(), thinking, 200_000)
    out = stream.start() + b"".join(stream.feed(e) for e in events)
    if error is not None:
        return out + stream.error(FailureKind.UPSTREAM_ERROR, error)
    return out + stream.finish()


def openai_sse(events: Iterable[KiroEvent]) -> bytes:
    stream = OpenAIStream("gpt-4o-mini", 19, ToolNameMap(), False, "reasoning_content", True, 200_000)
    return stream.start() + b"".join(stream.feed(e) for e in events) + stream.finish()


def patch(normalised: list[Any], path_values: list[tuple[tuple[Any, ...], Any]]) -> list[Any]:
    """Set nested values (index paths into the normalised list) to the fixture's values."""
    for path, value in path_values:
        target = normalised
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value
    return normalised


@pytest.mark.parametrize("name", ["anthropic_text", "anthropic_tool_use", "anthropic_thinking"])
def test_anthropic_stream_rebuilt_from_the_golden_events_matches_the_golden(name: str) -> None:
    expected = golden(name)
    produced = anthropic_sse(events_from_anthropic(expected), thinking=name == "anthropic_thinking")
    assert normalise_anthropic(produced) == normalise_anthropic(expected)


def test_anthropic_midstream_error_matches_the_golden() -> None:
    expected = golden("anthropic_error_midstream")
    produced = anthropic_sse(events_from_anthropic(expected), error="Overloaded")
    assert normalise_anthropic(produced) == normalise_anthropic(expected)
    assert b"message_stop" not in produced


@pytest.mark.parametrize("name", ["openai_text_usage", "openai_tool_calls", "openai_parallel_tool_calls"])
def test_openai_stream_rebuilt_from_the_golden_events_matches_the_golden(name: str) -> None:
    expected = golden(name)
    assert normalise_openai(openai_sse(events_from_openai(expected))) == normalise_openai(expected)


def test_text_fixture_gives_the_anthropic_text_golden_shape() -> None:
    produced = anthropic_sse(kiro_events("text"))
    text = eventstream_meta("text")["expected_text"]
    assert normalise_anthropic(produced) == patch(
        normalise_anthropic(golden("anthropic_text")), [((2, "delta", "text"), text)]
    )


def test_thinking_fixture_gives_the_anthropic_thinking_golden_shape() -> None:
    meta = eventstream_meta("thinking")
    produced = anthropic_sse(kiro_events("thinking"), thinking=True)
    expected = patch(
        normalise_anthropic(golden("anthropic_thinking")),
        [
            ((2, "delta", "thinking"), meta["expected_thinking"]),
            ((6, "delta", "text"), meta["expected_text"]),
        ],
    )
    assert normalise_anthropic(produced) == expected


def test_tool_call_fixture_gives_the_anthropic_tool_use_golden_shape() -> None:
    meta = eventstream_meta("tool_call")
    fragments = "".join(f["payload"].get("input", "") for f in meta["frames"][1:])
    produced = anthropic_sse(kiro_events("tool_call"))
    expected = patch(
        normalise_anthropic(golden("anthropic_tool_use")),
        [
            ((2, "delta", "text"), meta["frames"][0]["payload"]["content"]),
            ((4, "content_block", "name"), "get_weather"),
            ((5, "delta", "partial_json"), fragments),
        ],
    )
    assert normalise_anthropic(produced) == expected


def test_exception_fixture_gives_the_anthropic_error_golden_shape_and_hides_later_frames() -> None:
    meta = eventstream_meta("exception_midstream")
    produced = anthropic_sse(kiro_events("exception_midstream"))
    expected = patch(
        normalise_anthropic(golden("anthropic_error_midstream")),
        [
            ((2, "delta", "text"), meta["expected_text_before_error"]),
            ((3, "error"), {"type": "rate_limit_error", "message": meta["frames"][1]["payload"]["message"]}),
        ],
    )
    assert normalise_anthropic(produced) == expected
    assert b"must not be shown" not in produced


def test_text_fixture_gives_the_openai_text_golden_shape() -> None:
    produced = openai_sse(kiro_events("text"))
    expected = patch(
        normalise_openai(golden("openai_text_usage")),
        [((1, "choices", 0, "delta", "content"), eventstream_meta("text")["expected_text"])],
    )
    assert normalise_openai(produced) == expected


def test_parallel_fixture_gives_the_openai_parallel_golden_shape() -> None:
    calls = eventstream_meta("parallel_tool_calls")["expected_tool_calls"]
    produced = normalise_openai(openai_sse(kiro_events("parallel_tool_calls")))
    expected = normalise_openai(golden("openai_parallel_tool_calls"))
    for position, call in ((1, calls[0]), (2, calls[1])):  # each call: its opening delta + merged arguments
        sent = produced[position]["choices"][0]["delta"]["tool_calls"][0]
        assert json.loads(sent["function"]["arguments"]) == call["input"]
        golden_call = expected[position]["choices"][0]["delta"]["tool_calls"][0]
        golden_call["id"] = call["toolUseId"]
        golden_call["function"] = {"name": call["name"], "arguments": sent["function"]["arguments"]}
    assert produced == expected

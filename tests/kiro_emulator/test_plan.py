"""The sans-I/O answer planner: splitting, output cap and continuation pieces, without sockets."""

from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st

from services.kiro_emulator.plan import Continuation, Piece, apply_cap, content_pieces, split_even
from services.kiro_emulator.scripts import Script, ToolCallSpec


@given(st.text(max_size=300), st.integers(min_value=1, max_value=60))
def test_split_even_keeps_every_character_in_non_empty_near_equal_parts(text: str, parts: int) -> None:
    pieces = split_even(text, parts)
    assert "".join(pieces) == text
    assert all(pieces)
    assert len(pieces) == min(parts, len(text))
    if pieces:
        assert max(map(len, pieces)) - min(map(len, pieces)) <= 1


def _script(text: str, tool_input: str) -> Script:
    return Script(text=text, tool_calls=[ToolCallSpec(name="t", input=tool_input, id="tooluse_x")])


def _chars(pieces: list[Piece]) -> str:
    return "".join(p.text for p in pieces if p.kind in ("text", "tool_input"))


@given(st.text(min_size=1, max_size=120), st.text(max_size=200), st.integers(min_value=0, max_value=400))
def test_cap_sends_at_most_cap_characters_and_keeps_the_exact_rest(
    text: str, tool_input: str, cap: int
) -> None:
    pieces = content_pieces(_script(text, tool_input), echo="")
    sent, rest, cut_tool = apply_cap(pieces, cap)
    whole = _chars(pieces)
    assert len(_chars(sent)) <= cap
    assert _chars(sent) + _chars(rest) == whole
    assert bool(rest) == (len(whole) > cap)
    if cut_tool is not None:
        assert cut_tool == "tooluse_x"
        assert not any(p.kind == "tool_stop" for p in sent)


def test_text_continuation_turns_the_rest_of_the_cut_call_into_text_and_drops_its_stop() -> None:
    call = ToolCallSpec(name="t", input={"a": "b" * 50}, id="tooluse_x")
    pieces = content_pieces(Script(text="", tool_calls=[call]), echo="")
    sent, rest, cut_tool = apply_cap(pieces, 10)
    pending = Continuation("conv", cut_tool, rest, None, "text", None, None)
    answer = pending.answer_pieces()
    assert all(p.kind == "text" for p in answer)
    assert json.loads(_chars(sent) + _chars(answer)) == call.input


def test_echo_is_used_only_without_text_and_tool_calls() -> None:
    assert _chars(content_pieces(Script(), echo=" hello ")) == "hello"
    assert _chars(content_pieces(Script(), echo="   ")) == "OK"
    assert _chars(content_pieces(Script(text=""), echo="hello")) == ""
    only_tool = Script(tool_calls=[ToolCallSpec(name="t", input={}, id="tooluse_y")])
    assert [p.kind for p in content_pieces(only_tool, echo="hello")] == [
        "tool_start",
        "tool_input",
        "tool_stop",
    ]

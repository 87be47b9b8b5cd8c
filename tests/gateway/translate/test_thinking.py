"""The streaming thinking splitter (kiro-protocol.md §5): tags split anywhere, only a leading block."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from services.gateway.translate.thinking import ThinkingSplitter, split_thinking
from tests.gateway.translate.fixtures import eventstream_meta

RAW = eventstream_meta("thinking")["expected_raw_text"]
THINKING = eventstream_meta("thinking")["expected_thinking"]
ANSWER = eventstream_meta("thinking")["expected_text"]


def feed_all(chunks: list[str]) -> tuple[str, str, int]:
    """(thinking, text, number of thinking_end pieces) after feeding `chunks` and finishing."""
    splitter = ThinkingSplitter()
    pieces = [p for chunk in chunks for p in splitter.feed(chunk)] + splitter.finish()
    thinking = "".join(t for kind, t in pieces if kind == "thinking")
    text = "".join(t for kind, t in pieces if kind == "text")
    return thinking, text, sum(kind == "thinking_end" for kind, _ in pieces)


def test_the_fixture_split_across_frames_separates_thinking_from_the_answer() -> None:
    frames = [f["payload"]["content"] for f in eventstream_meta("thinking")["frames"]]
    assert feed_all(frames) == (THINKING, ANSWER, 1)


def test_every_two_way_split_of_the_answer_gives_the_same_result() -> None:
    for cut in range(len(RAW) + 1):
        assert feed_all([RAW[:cut], RAW[cut:]]) == (THINKING, ANSWER, 1), cut


def test_every_three_way_split_of_the_answer_gives_the_same_result() -> None:
    for first in range(len(RAW) + 1):
        for second in range(first, len(RAW) + 1):
            assert feed_all([RAW[:first], RAW[first:second], RAW[second:]]) == (THINKING, ANSWER, 1)


def test_closing_tag_text_is_never_leaked_into_thinking_deltas() -> None:
    splitter = ThinkingSplitter()
    emitted = [t for chunk in ["<thinking>abc</thi", "nking>\n\nok"] for kind, t in splitter.feed(chunk)]
    assert "</thi" not in "".join(emitted)


def test_an_answer_without_tags_is_released_as_soon_as_it_cannot_be_a_tag() -> None:
    splitter = ThinkingSplitter()
    assert splitter.feed("<") == []
    assert splitter.feed("b>bold") == [("text", "<b>bold")]
    assert splitter.feed(" more") == [("text", " more")]


def test_leading_whitespace_before_the_tag_is_dropped_but_kept_for_plain_answers() -> None:
    assert feed_all(["  \n<thinking>x</thinking>\n\ny"]) == ("x", "y", 1)
    assert feed_all(["  hello"]) == ("", "  hello", 0)


def test_only_the_first_block_at_the_start_is_reasoning() -> None:
    assert feed_all(["Answer: <thinking>not reasoning</thinking>"]) == (
        "",
        "Answer: <thinking>not reasoning</thinking>",
        0,
    )
    assert feed_all(["<thinking>a</thinking>\n\nthen <thinking>b</thinking>"]) == (
        "a",
        "then <thinking>b</thinking>",
        1,
    )


def test_a_block_left_open_at_the_end_is_closed_as_thinking() -> None:
    assert feed_all(["<thinking>still thinking</thi"]) == ("still thinking</thi", "", 1)


def test_only_one_blank_line_after_the_closing_tag_is_dropped() -> None:
    assert feed_all(["<thinking>a</thinking>\n\n\nb"]) == ("a", "\nb", 1)
    assert feed_all(["<thinking>a</thinking>b"]) == ("a", "b", 1)
    assert feed_all(["<thinking>a</thinking>\n"]) == ("a", "", 1)


def test_the_other_tag_spellings_are_understood() -> None:
    assert feed_all(["<think>a</think>\n\nb"]) == ("a", "b", 1)
    assert feed_all(["<reasoning>a</reasoning>b"]) == ("a", "b", 1)


def test_a_short_answer_that_looks_like_a_tag_prefix_is_not_lost() -> None:
    assert feed_all(["<thin"]) == ("", "<thin", 0)


def test_split_thinking_for_whole_texts() -> None:
    assert split_thinking(RAW) == (THINKING, ANSWER)


@given(
    thinking=st.text(alphabet=st.characters(blacklist_characters="<"), max_size=40),
    answer=st.text(max_size=40).filter(lambda s: not s.startswith("\n")),
    cuts=st.lists(st.integers(min_value=0, max_value=120), max_size=6),
)
def test_any_chunking_of_any_answer_reassembles(thinking: str, answer: str, cuts: list[int]) -> None:
    raw = f"<thinking>{thinking}</thinking>\n\n{answer}"
    points = sorted({min(c, len(raw)) for c in cuts})
    chunks = [raw[a:b] for a, b in zip([0, *points], [*points, len(raw)], strict=True)]
    assert feed_all(chunks) == (thinking, answer, 1)

"""The router's filter of internal SSE lines: nothing internal passes, everything else passes in order."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from services.router.internal_lines import InternalLines

USAGE = b': x-kiro-usage {"input_tokens":5,"output_tokens":7,"credits":0.01,"failure":null}\n'
CLIENT_LINES = [
    b"event: message_delta\n",
    b'data: {"type":"ping"}\n',
    b"\n",
    b": keep-alive\n",
    b": x-k\n",  # a client-visible comment that starts like the mark
    b": x-kir\n",
    b'data: {"text":": x-kiro-usage inside a string is content"}\n',
    b"data: x\n",
]
INTERNAL_LINES = [USAGE, b": x-kiro-other note\n", b": x-kiro-\n"]


def _run(chunks: list[bytes]) -> tuple[bytes, list[bytes]]:
    lines = InternalLines()
    out = b"".join(lines.feed(c) for c in chunks) + lines.end()
    return out, lines.lines


def _split(stream: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({min(c, len(stream)) for c in cuts})
    return [stream[a:b] for a, b in zip([0, *points], [*points, len(stream)], strict=True)]


@settings(max_examples=400, deadline=None)
@given(
    st.lists(st.sampled_from(CLIENT_LINES + INTERNAL_LINES), max_size=30),
    st.lists(st.integers(min_value=0, max_value=3000), max_size=12),
)
def test_internal_lines_are_removed_however_the_stream_is_cut(lines: list[bytes], cuts: list[int]) -> None:
    stream = b"".join(lines)

    out, taken = _run(_split(stream, cuts))

    assert out == b"".join(x for x in lines if x not in INTERNAL_LINES)
    assert taken == [x for x in lines if x in INTERNAL_LINES]


def test_a_usage_line_split_byte_by_byte_is_taken_whole_and_nothing_else_is_held() -> None:
    stream = b'data: {"type":"message_stop"}\n\n' + USAGE + b"\n"
    lines = InternalLines()

    passed = [lines.feed(stream[i : i + 1]) for i in range(len(stream))]

    assert b"".join(passed) + lines.end() == b'data: {"type":"message_stop"}\n\n\n'
    assert lines.lines == [USAGE]
    assert all(passed[: stream.index(b": x-kiro")])  # every byte before the line went out at once


def test_an_unfinished_internal_line_at_the_end_is_never_sent() -> None:
    out, taken = _run([b"data: a\n\n: x-kiro-usage {", b'"input_tokens":1'])

    assert out == b"data: a\n\n"
    assert taken == [b': x-kiro-usage {"input_tokens":1']

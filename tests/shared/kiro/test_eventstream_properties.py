"""Property tests: the codec round-trips anything the wire can carry, and bad bytes only ever raise
`EventStreamError`, whatever the chunking."""

from __future__ import annotations

import contextlib
import itertools
import string
import struct
import uuid
import zlib
from collections.abc import Iterator

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shared.errors import EventStreamError
from shared.kiro.events import ToolUseStop, parse_stream
from shared.kiro.eventstream import (
    EventStreamDecoder,
    Frame,
    HeaderValue,
    Int8,
    Int16,
    Int32,
    Timestamp,
    encode_event,
    encode_frame,
)
from tests.shared.kiro.fixtures import fixture_names, load

PROPERTY_SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

header_values: st.SearchStrategy[HeaderValue] = st.one_of(
    st.booleans(),
    st.integers(-(2**7), 2**7 - 1).map(Int8),
    st.integers(-(2**15), 2**15 - 1).map(Int16),
    st.integers(-(2**31), 2**31 - 1).map(Int32),
    st.integers(-(2**63), 2**63 - 1),
    st.integers(-(2**63), 2**63 - 1).map(Timestamp),
    st.binary(max_size=300),
    st.text(max_size=100),
    st.uuids(),
)
header_names = st.text(min_size=1, max_size=40)
headers = st.dictionaries(header_names, header_values, max_size=8)
frames = st.lists(st.tuples(headers, st.binary(max_size=1500)), min_size=1, max_size=5)
chunk_sizes = st.lists(st.integers(1, 80), min_size=1, max_size=10)


def cut(data: bytes, sizes: list[int]) -> Iterator[bytes]:
    pos = 0
    for size in itertools.cycle(sizes):
        if pos >= len(data):
            return
        yield data[pos : pos + size]
        pos += size


def decode(data: bytes, sizes: list[int]) -> list[Frame]:
    decoder = EventStreamDecoder()
    out: list[Frame] = []
    for chunk in cut(data, sizes):
        out += decoder.feed(chunk)
    decoder.close()
    return out


def typed(values: dict[str, HeaderValue]) -> list[tuple[str, type, HeaderValue]]:
    return [(name, type(value), value) for name, value in values.items()]


def valid_streams() -> list[bytes]:
    return [load(name)[0] for name in fixture_names() if load(name)[1]["expected_decode_error"] is None]


@PROPERTY_SETTINGS
@given(frames, chunk_sizes)
def test_any_frames_survive_encoding_and_decoding_in_any_chunking(
    specs: list[tuple[dict[str, HeaderValue], bytes]], sizes: list[int]
) -> None:
    data = b"".join(encode_frame(values, payload) for values, payload in specs)
    decoded = decode(data, sizes)
    assert [(typed(frame.headers), frame.payload) for frame in decoded] == [
        (typed(values), payload) for values, payload in specs
    ]
    assert b"".join(encode_frame(frame.headers, frame.payload) for frame in decoded) == data


@PROPERTY_SETTINGS
@given(st.binary(max_size=600), chunk_sizes)
def test_random_bytes_only_ever_raise_event_stream_error(data: bytes, sizes: list[int]) -> None:
    with contextlib.suppress(EventStreamError):
        decode(data, sizes)


small_values: st.SearchStrategy[HeaderValue] = st.one_of(
    header_values.filter(lambda value: not isinstance(value, str | bytes)),
    st.binary(max_size=6),
    st.text(max_size=4),
)


@st.composite
def damaged_header_blocks(draw: st.DrawFn) -> bytes:
    """A valid header block cut short and/or with one byte replaced: every bounds check gets hit."""
    values = draw(st.dictionaries(st.text(min_size=1, max_size=3), small_values, max_size=3))
    block = encode_frame(values, b"")[12:-4]
    if block and draw(st.booleans()):
        at = draw(st.integers(0, len(block) - 1))
        block = block[:at] + bytes([draw(st.integers(0, 255))]) + block[at + 1 :]
    if draw(st.booleans()):
        block = block[: draw(st.integers(0, len(block)))]
    return block


@PROPERTY_SETTINGS
@given(damaged_header_blocks(), st.binary(max_size=50), chunk_sizes)
def test_malformed_header_blocks_in_frames_with_valid_crcs_only_ever_raise_event_stream_error(
    block: bytes, payload: bytes, sizes: list[int]
) -> None:
    frame_bytes = frame_with_block(block, payload)
    expected = reference_headers(block)
    if expected is None:
        with pytest.raises(EventStreamError, match=r"^frame at offset 0: "):
            decode(frame_bytes, sizes)
    else:
        (frame,) = decode(frame_bytes, sizes)
        assert (typed(frame.headers), frame.payload) == (typed(expected), payload)


def test_every_cut_and_one_off_byte_of_a_block_with_all_types_matches_the_reference_reading() -> None:
    values: dict[str, HeaderValue] = {
        "t": True, "f": False, "b": Int8(-1), "s": Int16(2), "i": Int32(-3), "l": 4, "a": b"xy",
        "u": "é", "d": Timestamp(5), "g": uuid.UUID(int=6),
    }  # fmt: skip
    block = encode_frame(values, b"")[12:-4]
    variants = [block[:cut] for cut in range(len(block) + 1)]
    for at, delta in itertools.product(range(len(block)), (-1, 1)):
        variants.append(block[:at] + bytes([(block[at] + delta) & 0xFF]) + block[at + 1 :])
    for variant in variants:
        expected = reference_headers(variant)
        frame_bytes = frame_with_block(variant, b"")
        if expected is None:
            with pytest.raises(EventStreamError, match=r"^frame at offset 0: "):
                decode(frame_bytes, [len(frame_bytes)])
        else:
            (frame,) = decode(frame_bytes, [len(frame_bytes)])
            assert typed(frame.headers) == typed(expected), variant


def frame_with_block(block: bytes, payload: bytes) -> bytes:
    """A frame with correct lengths and CRCs around any header block."""
    prelude = struct.pack(">II", 16 + len(block) + len(payload), len(block))
    body = prelude + struct.pack(">I", zlib.crc32(prelude)) + block + payload
    return body + struct.pack(">I", zlib.crc32(body))


def reference_headers(block: bytes) -> dict[str, HeaderValue] | None:
    """A slow, obvious reading of a header block (protocol §6); None when it is malformed."""
    fixed: dict[int, tuple[str, type]] = {2: (">b", Int8), 3: (">h", Int16), 4: (">i", Int32)}
    fixed |= {5: (">q", int), 8: (">q", Timestamp)}
    rest = block
    out: dict[str, HeaderValue] = {}

    def take(count: int) -> bytes:
        nonlocal rest
        if count > len(rest):
            raise ValueError("short")
        piece, rest = rest[:count], rest[count:]
        return piece

    try:
        while rest:
            name = take(take(1)[0]).decode()
            kind = take(1)[0]
            if not name:
                return None
            if kind in (0, 1):
                out[name] = kind == 0
            elif kind in fixed:
                fmt, cls = fixed[kind]
                out[name] = cls(struct.unpack(fmt, take(struct.calcsize(fmt)))[0])
            elif kind in (6, 7):
                raw = take(struct.unpack(">H", take(2))[0])
                out[name] = raw.decode() if kind == 7 else raw
            elif kind == 9:
                out[name] = uuid.UUID(bytes=take(16))
            else:
                return None
    except ValueError:  # short read or bad UTF-8 (UnicodeDecodeError is a ValueError)
        return None
    return out


@PROPERTY_SETTINGS
@given(st.sampled_from(valid_streams()), st.data(), chunk_sizes)
def test_any_single_bit_flip_in_a_valid_stream_is_detected(
    stream: bytes, data: st.DataObject, sizes: list[int]
) -> None:
    bit = data.draw(st.integers(0, len(stream) * 8 - 1))
    damaged = bytearray(stream)
    damaged[bit // 8] ^= 1 << (bit % 8)
    with pytest.raises(EventStreamError, match="CRC mismatch"):
        decode(bytes(damaged), sizes)


@PROPERTY_SETTINGS
@given(st.sampled_from(valid_streams()), st.data(), chunk_sizes)
def test_random_overwrites_of_a_valid_stream_give_clean_frames_or_event_stream_error(
    stream: bytes, data: st.DataObject, sizes: list[int]
) -> None:
    damaged = bytearray(stream)
    for _ in range(data.draw(st.integers(1, 8))):
        position = data.draw(st.integers(0, len(stream) - 1))
        damaged[position] = data.draw(st.integers(0, 255))
    try:
        frames_out = decode(bytes(damaged), sizes)
    except EventStreamError:
        return
    assert b"".join(encode_frame(frame.headers, frame.payload) for frame in frames_out) == bytes(damaged)


@PROPERTY_SETTINGS
@given(st.sampled_from(valid_streams()), st.data(), chunk_sizes)
def test_a_stream_cut_anywhere_inside_a_frame_fails_at_close(
    stream: bytes, data: st.DataObject, sizes: list[int]
) -> None:
    sizes_of_frames = [len(encode_frame(f.headers, f.payload)) for f in decode(stream, [len(stream)])]
    boundaries = set(itertools.accumulate(sizes_of_frames))
    cut_at = data.draw(st.integers(1, len(stream) - 1))
    decoder = EventStreamDecoder()
    for chunk in cut(stream[:cut_at], sizes):
        decoder.feed(chunk)
    if decoder.buffered:
        with pytest.raises(EventStreamError, match=r"^truncated: "):
            decoder.close()
    else:
        decoder.close()
        assert cut_at in boundaries


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(10**9), 10**9) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=10,
)
tool_inputs = st.dictionaries(st.text(max_size=10), json_values, max_size=5)
tool_ids = st.text(string.ascii_letters + string.digits, min_size=1, max_size=12)


@settings(PROPERTY_SETTINGS, max_examples=60)
@given(
    st.lists(st.tuples(tool_ids, tool_inputs), max_size=4, unique_by=lambda call: call[0]),
    st.data(),
    chunk_sizes,
)
def test_tool_inputs_split_anywhere_are_reassembled_per_call(
    calls: list[tuple[str, dict[str, object]]], data: st.DataObject, sizes: list[int]
) -> None:
    body = b""
    for tool_use_id, arguments in calls:
        text = orjson.dumps(arguments).decode()
        cuts = sorted(data.draw(st.lists(st.integers(0, len(text)), max_size=6)))
        pieces = [text[a:b] for a, b in itertools.pairwise([0, *cuts, len(text)])]
        for piece in pieces:
            body += encode_event("toolUseEvent", {"toolUseId": tool_use_id, "name": "f", "input": piece})
        body += encode_event("toolUseEvent", {"toolUseId": tool_use_id, "name": "f", "stop": True})
    stops = [event for event in parse_stream(cut(body, sizes)) if isinstance(event, ToolUseStop)]
    assert [(stop.tool_use_id, stop.input) for stop in stops] == calls

"""The event-stream decoder against the shared fixtures, hand-built frames and every malformation."""

from __future__ import annotations

import struct
import uuid
import zlib

import orjson
import pytest

from shared.errors import EventStreamError
from shared.kiro.eventstream import (
    EventStreamDecoder,
    Frame,
    Int8,
    Int16,
    Int32,
    Timestamp,
    encode_event,
    encode_exception,
    encode_frame,
)
from tests.shared.kiro.fixtures import chunks, fixture_names, load

VALID = [name for name in fixture_names() if load(name)[1]["expected_decode_error"] is None]
CHUNK_SIZES = [1, 7, None]  # None = the whole file at once


def decode(data: bytes, size: int | None = None) -> list[Frame]:
    decoder = EventStreamDecoder()
    frames: list[Frame] = []
    for chunk in chunks(data, size or len(data) or 1):
        frames += decoder.feed(chunk)
    decoder.close()
    return frames


def raw_frame(header_block: bytes, payload: bytes = b"", *, total: int | None = None) -> bytes:
    """A frame built by hand from the spec, independent of the encoder under test."""
    total = 16 + len(header_block) + len(payload) if total is None else total
    prelude = struct.pack(">II", total, len(header_block))
    body = prelude + struct.pack(">I", zlib.crc32(prelude)) + header_block + payload
    return body + struct.pack(">I", zlib.crc32(body))


def test_fixtures_were_found() -> None:
    assert {"text", "tool_call", "truncated", "corrupt_prelude_crc"} <= set(fixture_names())


@pytest.mark.parametrize("size", CHUNK_SIZES)
@pytest.mark.parametrize("name", VALID)
def test_every_valid_fixture_decodes_to_its_json_twin(name: str, size: int | None) -> None:
    data, expected = load(name)
    frames = decode(data, size)
    assert [[list(pair) for pair in frame.headers.items()] for frame in frames] == [
        frame["headers"] for frame in expected["frames"]
    ]
    assert [orjson.loads(frame.payload) for frame in frames] == [
        frame["payload"] for frame in expected["frames"]
    ]


@pytest.mark.parametrize("name", VALID)
def test_decoded_fixture_frames_reencode_to_the_same_bytes(name: str) -> None:
    data, _ = load(name)
    assert b"".join(encode_frame(frame.headers, frame.payload) for frame in decode(data)) == data


@pytest.mark.parametrize("size", CHUNK_SIZES)
def test_corrupt_prelude_crc_is_rejected_before_any_frame(size: int | None) -> None:
    data, expected = load("corrupt_prelude_crc")
    decoder = EventStreamDecoder()
    with pytest.raises(EventStreamError) as caught:
        for chunk in chunks(data, size or len(data)):
            assert decoder.feed(chunk) == []
        decoder.close()
    assert str(caught.value) == expected["expected_decode_error"]


def test_corrupt_prelude_is_rejected_as_soon_as_the_prelude_is_in() -> None:
    data, _ = load("corrupt_prelude_crc")
    decoder = EventStreamDecoder()
    assert decoder.feed(data[:11]) == []
    with pytest.raises(EventStreamError, match="prelude CRC mismatch at offset 0"):
        decoder.feed(data[11:12])


@pytest.mark.parametrize("size", CHUNK_SIZES)
def test_truncated_stream_yields_its_complete_frames_then_fails_at_close(size: int | None) -> None:
    data, expected = load("truncated")
    decoder = EventStreamDecoder()
    frames: list[Frame] = []
    for chunk in chunks(data, size or len(data)):
        frames += decoder.feed(chunk)
    assert [frame.event_type for frame in frames] == ["assistantResponseEvent", "toolUseEvent"]
    assert decoder.buffered == 20
    with pytest.raises(EventStreamError) as caught:
        decoder.close()
    assert str(caught.value) == expected["expected_decode_error"]


def test_body_ending_inside_a_prelude_is_truncation() -> None:
    data = encode_event("assistantResponseEvent", {"content": "x"})
    decoder = EventStreamDecoder()
    assert len(decoder.feed(data + data[:5])) == 1
    with pytest.raises(EventStreamError, match=rf"truncated: frame at offset {len(data)} needs at least 12"):
        decoder.close()


def test_text_read_7_bytes_at_a_time_keeps_split_multibyte_characters() -> None:
    data, expected = load("text")
    for split in expected["utf8_splits_at_7_byte_reads"]:
        start, length = split["char_byte_offset_in_file"], split["char_byte_length"]
        assert data[start : start + length] == split["char"].encode()
        assert start < split["chunk_boundary_at"] < start + length and split["chunk_boundary_at"] % 7 == 0
    text = "".join(orjson.loads(frame.payload)["content"] for frame in decode(data, 7))
    assert text == expected["expected_text"]
    assert "世" in text and "😀" in text


def test_encoder_matches_the_worked_example_of_the_protocol_doc() -> None:
    frame = encode_event("assistantResponseEvent", {"content": "Hi"})
    assert len(frame) == 124
    assert frame[:12].hex() == "0000007c0000005c3bddcf78"
    assert frame[-4:].hex() == "b02babdc"


def test_every_header_value_type_decodes_to_its_typed_value() -> None:
    the_uuid = uuid.UUID("12345678-1234-5678-1234-567812345678")
    block = b"".join(
        [
            b"\x01t\x00",
            b"\x01f\x01",
            b"\x01b\x02\xff",
            b"\x01s\x03" + struct.pack(">h", -2),
            b"\x01i\x04" + struct.pack(">i", -3),
            b"\x01l\x05" + struct.pack(">q", 2**40),
            b"\x01a\x06\x00\x03\x00\x01\x02",
            b"\x01u\x07\x00\x03" + "é!".encode(),
            b"\x01d\x08" + struct.pack(">q", 1_700_000_000_123),
            b"\x01g\x09" + the_uuid.bytes,
        ]
    )
    (frame,) = decode(raw_frame(block, b"{}"))
    assert frame.headers == {
        "t": True,
        "f": False,
        "b": -1,
        "s": -2,
        "i": -3,
        "l": 2**40,
        "a": b"\x00\x01\x02",
        "u": "é!",
        "d": 1_700_000_000_123,
        "g": the_uuid,
    }
    assert [type(value) for value in frame.headers.values()] == [
        bool, bool, Int8, Int16, Int32, int, bytes, str, Timestamp, uuid.UUID,
    ]  # fmt: skip
    assert frame.headers["d"] == Timestamp(1_700_000_000_123)
    assert Timestamp(1_700_000_000_123).to_datetime().isoformat() == "2023-11-14T22:13:20.123000+00:00"
    assert frame.payload == b"{}"


def test_frame_exposes_message_event_and_exception_types() -> None:
    (event,) = decode(encode_event("toolUseEvent", {}))
    (exception,) = decode(encode_exception("ThrottlingException", "slow down"))
    assert (event.message_type, event.event_type, event.exception_type) == ("event", "toolUseEvent", None)
    assert (exception.message_type, exception.exception_type) == ("exception", "ThrottlingException")
    assert orjson.loads(exception.payload) == {"message": "slow down"}


def test_frame_with_no_headers_and_no_payload_is_valid() -> None:
    assert decode(raw_frame(b"")) == [Frame({}, b"")]


def test_message_crc_mismatch_names_the_frame_offset() -> None:
    first = encode_event("assistantResponseEvent", {"content": "a"})
    second = bytearray(encode_event("assistantResponseEvent", {"content": "b"}))
    second[-6] ^= 0x01
    decoder = EventStreamDecoder()
    assert len(decoder.feed(first)) == 1
    with pytest.raises(EventStreamError, match=rf"^message CRC mismatch at offset {len(first)}$"):
        decoder.feed(bytes(second))


def test_good_frames_before_corruption_in_the_same_chunk_come_out_before_the_error() -> None:
    good = encode_event("assistantResponseEvent", {"content": "a"})
    bad = bytearray(good)
    bad[20] ^= 0x10
    decoder = EventStreamDecoder()
    frames = decoder.feed(good + bytes(bad))
    assert len(frames) == 1 and decoder.failed
    with pytest.raises(EventStreamError, match="message CRC mismatch"):
        decoder.close()


def test_decoder_stays_failed_after_an_error() -> None:
    decoder = EventStreamDecoder()
    with pytest.raises(EventStreamError):
        decoder.feed(b"\x00" * 16)
    with pytest.raises(EventStreamError, match="prelude CRC mismatch at offset 0"):
        decoder.feed(encode_event("assistantResponseEvent", {"content": "a"}))
    with pytest.raises(EventStreamError, match="prelude CRC mismatch at offset 0"):
        decoder.close()


def prelude(total: int, headers_len: int) -> bytes:
    head = struct.pack(">II", total, headers_len)
    return head + struct.pack(">I", zlib.crc32(head))


@pytest.mark.parametrize(
    ("total", "headers_len", "max_frame_size", "message"),
    [
        (15, 0, None, "total_length 15 is below 16"),
        (16 * 1024 * 1024 + 1, 0, None, "total_length 16777217 exceeds the limit of 16777216"),
        (4096, 0, 1024, "total_length 4096 exceeds the limit of 1024"),
        (300_000, 140_000, None, "headers_length 140000 exceeds the limit of 131072"),
        (100, 85, None, "headers_length 85 does not fit total_length 100"),
    ],
)
def test_impossible_lengths_are_rejected_from_the_prelude_alone(
    total: int, headers_len: int, max_frame_size: int | None, message: str
) -> None:
    decoder = EventStreamDecoder(max_frame_size=max_frame_size or 16 * 1024 * 1024)
    with pytest.raises(EventStreamError, match=rf"^frame at offset 0: {message}$"):
        decoder.feed(prelude(total, headers_len))


def test_max_frame_size_cannot_exceed_the_spec_limit() -> None:
    with pytest.raises(ValueError, match="max_frame_size"):
        EventStreamDecoder(max_frame_size=32 * 1024 * 1024)


@pytest.mark.parametrize(
    ("block", "message"),
    [
        (b"\x05ab", "header name runs past the header block"),
        (b"\x01a", "header name runs past the header block"),
        (b"\x01a\x0c", "header 'a' has unknown value type 12"),
        (b"\x01a\x07\x00", "header 'a' length runs past the header block"),
        (b"\x01a\x07\x00\x09abc", "header 'a' value runs past the header block"),
        (b"\x01a\x06\x00\x04abc", "header 'a' value runs past the header block"),
        (b"\x00\x07\x00\x00", "empty header name"),
        (b"\x01a\x05\x00\x00", "header 'a' value runs past the header block"),
        (b"\x01a\x09" + b"\x00" * 15, "header 'a' value runs past the header block"),
        (b"\x02\xc3\x28\x00", "header name or string value is not UTF-8"),
        (b"\x01a\x07\x00\x02\xff\xfe", "header name or string value is not UTF-8"),
    ],
)
def test_malformed_header_blocks_raise_a_precise_error(block: bytes, message: str) -> None:
    with pytest.raises(EventStreamError, match=rf"^frame at offset 0: {message}"):
        decode(raw_frame(block))


def test_feeding_after_close_is_an_error() -> None:
    decoder = EventStreamDecoder()
    decoder.close()
    with pytest.raises(EventStreamError, match="after close"):
        decoder.feed(b"")


def test_encoder_rejects_values_the_wire_cannot_carry() -> None:
    with pytest.raises(ValueError, match="does not fit"):
        encode_frame({"x": Int8(300)}, b"")
    with pytest.raises(ValueError, match=r"1\.\.255 bytes"):
        encode_frame({"": "v"}, b"")
    with pytest.raises(ValueError, match="exceeds 65535"):
        encode_frame({"x": "v" * 70_000}, b"")

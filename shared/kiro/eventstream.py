"""Sans-I/O codec for the AWS binary event-stream framing Kiro answers with (kiro-protocol.md §6).

Encoder part; the decoder (`EventStreamDecoder`) is added beside it.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterable, Mapping

import orjson

PRELUDE_LEN = 12
MIN_FRAME = 16
MAX_FRAME = 16 * 1024 * 1024
MAX_HEADERS = 128 * 1024

_STRING = 7


def _encode_headers(headers: Iterable[tuple[str, str]]) -> bytes:
    out = bytearray()
    for name, value in headers:
        raw_name = name.encode()
        raw_value = value.encode()
        out += struct.pack(">B", len(raw_name)) + raw_name
        out += struct.pack(">BH", _STRING, len(raw_value)) + raw_value
    return bytes(out)


def encode_frame(headers: Mapping[str, str] | Iterable[tuple[str, str]], payload: bytes) -> bytes:
    """One frame with string headers (the only header type Kiro sends) and CRCs."""
    items = headers.items() if isinstance(headers, Mapping) else headers
    header_block = _encode_headers(items)
    total = PRELUDE_LEN + len(header_block) + len(payload) + 4
    prelude = struct.pack(">II", total, len(header_block))
    prelude += struct.pack(">I", zlib.crc32(prelude))
    body = prelude + header_block + payload
    return body + struct.pack(">I", zlib.crc32(body))


def encode_event(event_type: str, payload: object) -> bytes:
    """An `event` frame as Kiro emits it: `:event-type`, `:content-type`, `:message-type`."""
    return encode_frame(
        [(":event-type", event_type), (":content-type", "application/json"), (":message-type", "event")],
        orjson.dumps(payload),
    )


def encode_exception(exception_type: str, message: str) -> bytes:
    """An `exception` frame (modelled service error) carrying `{"message": ...}`."""
    return encode_frame(
        [
            (":exception-type", exception_type),
            (":content-type", "application/json"),
            (":message-type", "exception"),
        ],
        orjson.dumps({"message": message}),
    )

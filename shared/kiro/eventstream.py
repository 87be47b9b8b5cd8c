"""Sans-I/O codec for the AWS binary event-stream framing Kiro answers with (kiro-protocol.md §6).

Decoding, modelled on h11: feed bytes as they arrive, get complete frames back.

    decoder = EventStreamDecoder()            # max_frame_size=... to lower the 16 MiB limit
    for chunk in body:
        for frame in decoder.feed(chunk):     # list[Frame], possibly empty
            ...
    decoder.close()                           # raises if the body ended inside a frame

`Frame.headers` maps header names to typed values in wire order (a repeated name keeps its last
value); `Frame.payload` is the raw payload
bytes (never decoded per network chunk, so UTF-8 split across reads survives). `message_type`,
`event_type` and `exception_type` read the usual `:`-headers.

Header value types (wire type → Python): 0/1 → `bool`, 2 → `Int8`, 3 → `Int16`, 4 → `Int32`,
5 → `int`, 6 → `bytes`, 7 → `str`, 8 → `Timestamp` (ms since the epoch), 9 → `uuid.UUID`.
`Int8`, `Int16`, `Int32` and `Timestamp` are `int` subclasses that remember their wire width, so a
decoded frame re-encodes to the same bytes.

Bad input (CRC mismatch, impossible lengths, oversized frames, malformed headers, a truncated body)
raises `EventStreamError` with the stream offset of the frame, e.g. "prelude CRC mismatch at offset 0"
or "truncated: frame at offset 317 needs 186 bytes, 20 present". The prelude CRC is checked before
`total_length` is trusted. Frames completed before the bad bytes are returned first: if one `feed()`
call decodes good frames and then hits corruption, it returns the good frames and the error is raised
by the next `feed()`/`close()` (`failed` is already true). After an error the decoder stays failed.

Encoding (emulator, tests, benchmarks): `encode_frame(headers, payload)` takes a mapping or pairs with
values of any header type above (`datetime` encodes as a timestamp); `encode_event` and
`encode_exception` build the frames Kiro emits.
"""

from __future__ import annotations

import struct
import uuid
import zlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

import orjson

from shared.errors import EventStreamError

PRELUDE_LEN = 12
MIN_FRAME = 16
MAX_FRAME = 16 * 1024 * 1024
MAX_HEADERS = 128 * 1024

_BOOL_TRUE, _BOOL_FALSE, _BYTE, _SHORT, _INT, _LONG, _BYTES, _STRING, _TIMESTAMP, _UUID = range(10)

_PRELUDE = struct.Struct(">III")
_U32 = struct.Struct(">I")
_U16 = struct.Struct(">H")

# Kiro repeats a handful of identical header blocks; parsing each once keeps decoding cheap.
_HEADER_CACHE_SIZE = 64


class Int8(int):
    """A header value sent as a signed byte (wire type 2)."""


class Int16(int):
    """A header value sent as a signed short (wire type 3)."""


class Int32(int):
    """A header value sent as a signed 32-bit int (wire type 4)."""


class Timestamp(int):
    """A timestamp header (wire type 8): milliseconds since the Unix epoch."""

    def to_datetime(self) -> datetime:
        """The timestamp as an aware UTC datetime (raises OverflowError/ValueError out of range)."""
        return datetime.fromtimestamp(self / 1000, tz=UTC)


HeaderValue = bool | int | bytes | str | uuid.UUID
"""Decoded header values; `int` covers `Int8`, `Int16`, `Int32`, `Timestamp` and plain longs."""

EncodableHeaderValue = HeaderValue | bytearray | datetime

_FIXED: dict[int, tuple[struct.Struct, type[int]]] = {
    _BYTE: (struct.Struct(">b"), Int8),
    _SHORT: (struct.Struct(">h"), Int16),
    _INT: (struct.Struct(">i"), Int32),
    _LONG: (struct.Struct(">q"), int),
    _TIMESTAMP: (struct.Struct(">q"), Timestamp),
}


@dataclass(slots=True)
class Frame:
    """One decoded event-stream message."""

    headers: dict[str, HeaderValue]
    payload: bytes

    def _str_header(self, name: str) -> str | None:
        value = self.headers.get(name)
        return value if isinstance(value, str) else None

    @property
    def message_type(self) -> str | None:
        """`:message-type`: "event", "exception" or "error"."""
        return self._str_header(":message-type")

    @property
    def event_type(self) -> str | None:
        """`:event-type` of an event frame, e.g. "assistantResponseEvent"."""
        return self._str_header(":event-type")

    @property
    def exception_type(self) -> str | None:
        """`:exception-type` of an exception frame, e.g. "ThrottlingException"."""
        return self._str_header(":exception-type")


class EventStreamDecoder:
    """Incremental decoder: `feed()` byte chunks of any size, `close()` at the end of the body."""

    def __init__(self, *, max_frame_size: int = MAX_FRAME) -> None:
        if not MIN_FRAME <= max_frame_size <= MAX_FRAME:
            raise ValueError(f"max_frame_size must be within {MIN_FRAME}..{MAX_FRAME}")
        self._max_frame = max_frame_size
        self._buf = bytearray()
        self._offset = 0  # stream offset of the first byte not yet consumed
        self._need = 0  # validated total_length of the frame at the buffer start, 0 = unknown
        self._error: EventStreamError | None = None
        self._closed = False
        self._header_cache: dict[bytes, dict[str, HeaderValue]] = {}

    @property
    def failed(self) -> bool:
        """True once corrupt or truncated input was seen; every later call raises."""
        return self._error is not None

    @property
    def buffered(self) -> int:
        """Bytes held back because they do not complete a frame yet."""
        return len(self._buf)

    def feed(self, data: bytes | bytearray | memoryview) -> list[Frame]:
        """Add bytes; return every frame they complete, in stream order."""
        if self._error is not None:
            raise self._error
        if self._closed:
            raise EventStreamError("feed() after close()")
        buf = self._buf
        if buf:
            buf += data
            if len(buf) < self._need:
                return []
            frames, used, error = self._decode_available(bytes(buf))
            del buf[:used]
        else:
            frames, used, error = self._decode_available(data if type(data) is bytes else bytes(data))
            if used < len(data):
                buf += memoryview(data)[used:]
        self._offset += used
        if error is not None:
            self._error = error
            if not frames:
                raise error
        return frames

    def close(self) -> None:
        """Declare the end of the body; raises `EventStreamError` if bytes of a partial frame remain."""
        if self._error is not None:
            raise self._error
        self._closed = True
        held = len(self._buf)
        if not held:
            return
        if self._need:
            message = f"truncated: frame at offset {self._offset} needs {self._need} bytes, {held} present"
        else:
            message = (
                f"truncated: frame at offset {self._offset} needs at least {PRELUDE_LEN} bytes, "
                f"{held} present"
            )
        self._error = EventStreamError(message)
        raise self._error

    def _decode_available(self, data: bytes) -> tuple[list[Frame], int, EventStreamError | None]:
        """Decode the complete frames at the start of `data`: the frames, bytes used, error met.

        The hot loop of the gateway: kept inline, with the error wording left to `_prelude_error`.
        Plain `bytes` slices are cheaper here than memoryview slices; the message CRC continues from
        the (verified) prelude CRC instead of re-reading the prelude.
        """
        frames: list[Frame] = []
        error = None
        pos = 0
        end = len(data)
        max_frame = self._max_frame
        cache = self._header_cache
        crc32 = zlib.crc32
        try:
            while end - pos >= PRELUDE_LEN:
                total, headers_len, prelude_crc = _PRELUDE.unpack_from(data, pos)
                if not self._need:
                    if crc32(data[pos : pos + 8]) != prelude_crc or not (
                        MIN_FRAME <= total <= max_frame
                        and headers_len <= MAX_HEADERS
                        and headers_len <= total - MIN_FRAME
                    ):
                        raise self._prelude_error(data, pos, total, headers_len, prelude_crc)
                    self._need = total
                if end - pos < total:
                    break
                crc_at = pos + total - 4
                if crc32(data[pos + 8 : crc_at], prelude_crc) != _U32.unpack_from(data, crc_at)[0]:
                    raise EventStreamError(f"message CRC mismatch at offset {self._offset + pos}")
                headers_end = pos + PRELUDE_LEN + headers_len
                block = data[pos + PRELUDE_LEN : headers_end]
                headers = cache.get(block)
                if headers is None:
                    headers = self._parse_and_cache(block, pos)
                frames.append(Frame(headers.copy(), data[headers_end:crc_at]))
                self._need = 0
                pos += total
        except EventStreamError as exc:
            error = exc
        return frames, pos, error

    def _prelude_error(
        self, data: bytes, pos: int, total: int, headers_len: int, prelude_crc: int
    ) -> EventStreamError:
        offset = self._offset + pos
        if zlib.crc32(data[pos : pos + 8]) != prelude_crc:
            return EventStreamError(f"prelude CRC mismatch at offset {offset}")
        if total < MIN_FRAME:
            detail = f"total_length {total} is below {MIN_FRAME}"
        elif total > self._max_frame:
            detail = f"total_length {total} exceeds the limit of {self._max_frame}"
        elif headers_len > MAX_HEADERS:
            detail = f"headers_length {headers_len} exceeds the limit of {MAX_HEADERS}"
        else:
            detail = f"headers_length {headers_len} does not fit total_length {total}"
        return EventStreamError(f"frame at offset {offset}: {detail}")

    def _parse_and_cache(self, block: bytes, pos: int) -> dict[str, HeaderValue]:
        headers = _parse_headers(block, self._offset + pos)
        if len(self._header_cache) >= _HEADER_CACHE_SIZE:
            self._header_cache.clear()
        self._header_cache[block] = headers
        return headers


def _parse_headers(block: bytes, frame_offset: int) -> dict[str, HeaderValue]:
    """Parse one header block; any malformation becomes an `EventStreamError` naming the frame."""
    headers: dict[str, HeaderValue] = {}
    pos = 0
    end = len(block)
    try:
        while pos < end:
            name_end = pos + 1 + block[pos]
            if name_end >= end:
                raise _header_error(frame_offset, "header name runs past the header block")
            if name_end == pos + 1:
                raise _header_error(frame_offset, "empty header name")
            name = block[pos + 1 : name_end].decode()
            kind = block[name_end]
            pos = name_end + 1
            value: HeaderValue
            if kind in (_STRING, _BYTES):
                if pos + 2 > end:
                    raise _header_error(frame_offset, f"header {name!r} length runs past the header block")
                value_end = pos + 2 + _U16.unpack_from(block, pos)[0]
                if value_end > end:
                    raise _header_error(frame_offset, f"header {name!r} value runs past the header block")
                raw = block[pos + 2 : value_end]
                value = raw.decode() if kind == _STRING else raw
                pos = value_end
            elif kind in (_BOOL_TRUE, _BOOL_FALSE):
                value = kind == _BOOL_TRUE
            elif kind == _UUID:
                if pos + 16 > end:
                    raise _header_error(frame_offset, f"header {name!r} value runs past the header block")
                value = uuid.UUID(bytes=block[pos : pos + 16])
                pos += 16
            elif kind in _FIXED:
                codec, cls = _FIXED[kind]
                if pos + codec.size > end:
                    raise _header_error(frame_offset, f"header {name!r} value runs past the header block")
                value = cls(codec.unpack_from(block, pos)[0])
                pos += codec.size
            else:
                raise _header_error(frame_offset, f"header {name!r} has unknown value type {kind}")
            headers[name] = value
    except UnicodeDecodeError as exc:
        detail = f"header name or string value is not UTF-8 ({exc.reason})"
        raise _header_error(frame_offset, detail) from None
    return headers


def _header_error(frame_offset: int, detail: str) -> EventStreamError:
    return EventStreamError(f"frame at offset {frame_offset}: {detail}")


def _encode_value(value: EncodableHeaderValue) -> bytes:
    if isinstance(value, bool):
        return bytes((_BOOL_TRUE if value else _BOOL_FALSE,))
    if isinstance(value, str):
        raw = value.encode()
        return struct.pack(">BH", _STRING, _checked_len(raw)) + raw
    if isinstance(value, bytes | bytearray):
        return struct.pack(">BH", _BYTES, _checked_len(value)) + bytes(value)
    if isinstance(value, uuid.UUID):
        return bytes((_UUID,)) + value.bytes
    if isinstance(value, datetime):
        value = Timestamp(round(value.timestamp() * 1000))
    kind = {Int8: _BYTE, Int16: _SHORT, Int32: _INT, Timestamp: _TIMESTAMP}.get(type(value), _LONG)
    try:
        return bytes((kind,)) + _FIXED[kind][0].pack(value)
    except struct.error as exc:
        raise ValueError(f"header value {value!r} does not fit wire type {kind}") from exc


def _checked_len(raw: bytes | bytearray) -> int:
    if len(raw) > 0xFFFF:
        raise ValueError(f"header value of {len(raw)} bytes exceeds 65535")
    return len(raw)


def _encode_headers(headers: Iterable[tuple[str, EncodableHeaderValue]]) -> bytes:
    out = bytearray()
    for name, value in headers:
        raw_name = name.encode()
        if not 0 < len(raw_name) <= 0xFF:
            raise ValueError(f"header name {name!r} must be 1..255 bytes of UTF-8")
        out += bytes((len(raw_name),)) + raw_name
        out += _encode_value(value)
    return bytes(out)


def encode_frame(
    headers: Mapping[str, EncodableHeaderValue] | Iterable[tuple[str, EncodableHeaderValue]],
    payload: bytes,
) -> bytes:
    """One frame with its CRCs; header values of any wire type (see the module docstring)."""
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

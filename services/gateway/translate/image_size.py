"""Image kind and pixel size from the first bytes of a PNG, JPEG, GIF or WebP file (sans-I/O, no decoding).

Used to check what an image URL served (`sniff_media_type`) and to estimate an image's input tokens the
way Anthropic documents it: the image is first scaled down (aspect kept) until its long edge is at most
1568 px and it has at most ~1.15 megapixels, then it costs width × height / 750 tokens — at most ~1,600.
"""

from __future__ import annotations

import base64
import binascii
import math
import struct
from collections.abc import Callable

from services.gateway.translate.ir import ImagePart

MAX_LONG_EDGE = 1568
PIXELS_PER_TOKEN = 750
MAX_IMAGE_TOKENS = 1_600  # the megapixel cap, in tokens: what an image of unknown size is counted as
_MAX_JPEG_STEPS = 10_000  # segments and fill bytes walked before giving up

_PNG = b"\x89PNG\r\n\x1a\n"
_JPEG = b"\xff\xd8\xff"
_GIFS = (b"GIF87a", b"GIF89a")
# JPEG start-of-frame markers carry the size; C4 (DHT), C8 (JPG) and CC (DAC) share the range but do not
_SOF_MARKERS = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
# markers without a length field
_STANDALONE_MARKERS = frozenset({0x01, *range(0xD0, 0xDA)})


def sniff_media_type(head: bytes) -> str | None:
    """`image/png`, `image/jpeg`, `image/gif` or `image/webp` from the magic bytes; None for anything else."""
    if head.startswith(_PNG):
        return "image/png"
    if head.startswith(_JPEG):
        return "image/jpeg"
    if head.startswith(_GIFS):
        return "image/gif"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    return None


#: reads `size` bytes at `offset` (fewer at the end of the image)
Reader = Callable[[int, int], bytes]


def image_dimensions(data: bytes) -> tuple[int, int] | None:
    """(width, height) read from the header; None if the bytes are not (enough of) a known image."""
    return _dimensions(lambda offset, size: data[offset : offset + size])


def _dimensions(read: Reader) -> tuple[int, int] | None:
    head = read(0, 32)
    kind = sniff_media_type(head)
    if kind == "image/png":
        return _png(head)
    if kind == "image/gif":
        return struct.unpack("<HH", head[6:10]) if len(head) >= 10 else None
    if kind == "image/webp":
        return _webp(head)
    if kind == "image/jpeg":
        return _jpeg(read)
    return None


def _png(head: bytes) -> tuple[int, int] | None:
    if len(head) < 24 or head[12:16] != b"IHDR":
        return None
    width, height = struct.unpack(">II", head[16:24])
    return width, height


def _webp(head: bytes) -> tuple[int, int] | None:
    chunk = head[12:16]
    if chunk == b"VP8L" and len(head) >= 25 and head[20] == 0x2F:  # lossless: 14-bit width-1, height-1
        bits = int.from_bytes(head[21:25], "little")
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    if len(head) < 30:
        return None
    if chunk == b"VP8 " and head[23:26] == b"\x9d\x01\x2a":  # lossy: the key frame's start code, then sizes
        width, height = struct.unpack("<HH", head[26:30])
        return width & 0x3FFF, height & 0x3FFF
    if chunk == b"VP8X":  # extended: 24-bit canvas width-1 and height-1
        return int.from_bytes(head[24:27], "little") + 1, int.from_bytes(head[27:30], "little") + 1
    return None


def _jpeg(read: Reader) -> tuple[int, int] | None:
    """Walks the segment headers only (EXIF and thumbnails before the size are skipped, never read)."""
    i = 2
    for _ in range(_MAX_JPEG_STEPS):
        segment = read(i, 9)
        if len(segment) < 4 or segment[0] != 0xFF:
            return None
        marker = segment[1]
        if marker == 0xFF:  # fill byte
            i += 1
            continue
        if marker in _STANDALONE_MARKERS:
            i += 2
            continue
        if marker in _SOF_MARKERS:
            if len(segment) < 9:
                return None
            height, width = struct.unpack(">HH", segment[5:9])
            return width, height
        (length,) = struct.unpack(">H", segment[2:4])
        if length < 2:
            return None
        i += 2 + length
    return None


def tokens_for_size(width: int, height: int) -> int:
    """Anthropic's estimate: ⌈w × h / 750⌉ after the resize (long edge ≤ 1568 px, ≤ ~1,600 tokens)."""
    if width <= 0 or height <= 0:
        return MAX_IMAGE_TOKENS
    long_edge = max(width, height)
    scale = min(1.0, MAX_LONG_EDGE / long_edge)
    pixels = (width * scale) * (height * scale)
    return max(1, min(MAX_IMAGE_TOKENS, math.ceil(pixels / PIXELS_PER_TOKEN)))


def image_tokens(image: ImagePart) -> int:
    """Input tokens of an inline image, from the size in its header; the cap when it cannot be read."""
    try:
        size = _dimensions(_base64_reader(image.data))
    except (binascii.Error, ValueError):
        size = None
    return MAX_IMAGE_TOKENS if size is None else tokens_for_size(*size)


def _base64_reader(data: str) -> Reader:
    """Bytes of base64 `data` decoded on demand: a header costs a few characters, not the whole image."""

    def read(offset: int, size: int) -> bytes:
        first = offset // 3
        decoded = base64.b64decode(data[first * 4 : -(-(offset + size) // 3) * 4])
        skip = offset - first * 3
        return decoded[skip : skip + size]

    return read

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

from services.gateway.translate.ir import ImagePart

MAX_LONG_EDGE = 1568
PIXELS_PER_TOKEN = 750
MAX_IMAGE_TOKENS = 1_600  # the megapixel cap, in tokens: what an image of unknown size is counted as
#: base64 characters decoded first: a JPEG's size marker usually sits after EXIF, within 64 KiB
_HEAD_CHARS = 88_000

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


def image_dimensions(data: bytes) -> tuple[int, int] | None:
    """(width, height) read from the header; None if the bytes are not (enough of) a known image."""
    kind = sniff_media_type(data)
    if kind == "image/png":
        return _png(data)
    if kind == "image/gif":
        return struct.unpack("<HH", data[6:10]) if len(data) >= 10 else None
    if kind == "image/webp":
        return _webp(data)
    if kind == "image/jpeg":
        return _jpeg(data)
    return None


def _png(data: bytes) -> tuple[int, int] | None:
    if len(data) < 24 or data[12:16] != b"IHDR":
        return None
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def _webp(data: bytes) -> tuple[int, int] | None:
    chunk = data[12:16]
    if chunk == b"VP8L" and len(data) >= 25 and data[20] == 0x2F:  # lossless: 14-bit width-1, height-1
        bits = int.from_bytes(data[21:25], "little")
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    if len(data) < 30:
        return None
    if chunk == b"VP8 " and data[23:26] == b"\x9d\x01\x2a":  # lossy: the key frame's start code, then sizes
        width, height = struct.unpack("<HH", data[26:30])
        return width & 0x3FFF, height & 0x3FFF
    if chunk == b"VP8X":  # extended: 24-bit canvas width-1 and height-1
        return int.from_bytes(data[24:27], "little") + 1, int.from_bytes(data[27:30], "little") + 1
    return None


def _jpeg(data: bytes) -> tuple[int, int] | None:
    i = 2
    while i + 4 <= len(data):
        if data[i] != 0xFF:
            return None
        marker = data[i + 1]
        if marker == 0xFF:  # fill byte
            i += 1
            continue
        if marker in _STANDALONE_MARKERS:
            i += 2
            continue
        (length,) = struct.unpack(">H", data[i + 2 : i + 4])
        if marker in _SOF_MARKERS:
            if i + 9 > len(data):
                return None
            height, width = struct.unpack(">HH", data[i + 5 : i + 9])
            return width, height
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
    size = _dimensions_b64(image.data[:_HEAD_CHARS])
    if size is None and len(image.data) > _HEAD_CHARS:
        size = _dimensions_b64(image.data)
    return MAX_IMAGE_TOKENS if size is None else tokens_for_size(*size)


def _dimensions_b64(data: str) -> tuple[int, int] | None:
    data = data[: len(data) - len(data) % 4]
    try:
        return image_dimensions(base64.b64decode(data))
    except (binascii.Error, ValueError):
        return None

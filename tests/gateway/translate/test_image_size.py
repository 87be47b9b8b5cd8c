"""Image sizes read from file headers, and the input tokens Anthropic's resize rule gives them."""

from __future__ import annotations

import base64
import struct

import pytest

from services.gateway.translate import ImagePart, parse_anthropic
from services.gateway.translate.image_size import (
    MAX_IMAGE_TOKENS,
    image_dimensions,
    image_tokens,
    sniff_media_type,
    tokens_for_size,
)
from services.gateway.translate.tokens import count_tokens
from tests.gateway.image_server import png


def jpeg(width: int, height: int, exif_segments: int = 0) -> bytes:
    """A JPEG head: SOI, JFIF APP0, 64 KB APP1 (EXIF) segments, then the SOF0 that carries the size."""
    app0 = b"\xff\xe0" + struct.pack(">H", 16) + b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
    app1 = (b"\xff\xe1" + struct.pack(">H", 65_002) + b"\x00" * 65_000) * exif_segments
    sof0 = b"\xff\xc0" + struct.pack(">HBHHB", 17, 8, height, width, 3) + b"\x01\x22\x00" * 3
    return b"\xff\xd8" + app0 + app1 + b"\xff\xff" + sof0 + b"\xff\xd9"


def gif(width: int, height: int) -> bytes:
    return b"GIF89a" + struct.pack("<HH", width, height) + b"\x00\x00\x00;"


def webp(chunk: bytes, payload: bytes) -> bytes:
    body = b"WEBP" + chunk + struct.pack("<I", len(payload)) + payload
    return b"RIFF" + struct.pack("<I", len(body)) + body


def vp8(width: int, height: int) -> bytes:
    return webp(b"VP8 ", b"\x00\x00\x00\x9d\x01\x2a" + struct.pack("<HH", width, height))


def vp8l(width: int, height: int) -> bytes:
    bits = (width - 1) | ((height - 1) << 14)
    return webp(b"VP8L", b"\x2f" + bits.to_bytes(4, "little"))


def vp8x(width: int, height: int) -> bytes:
    size = (width - 1).to_bytes(3, "little") + (height - 1).to_bytes(3, "little")
    return webp(b"VP8X", b"\x00\x00\x00\x00" + size)


@pytest.mark.parametrize(
    ("data", "media_type", "size"),
    [
        (png(640, 480), "image/png", (640, 480)),
        (jpeg(1024, 768), "image/jpeg", (1024, 768)),
        (jpeg(3000, 2000, exif_segments=1), "image/jpeg", (3000, 2000)),
        (gif(320, 200), "image/gif", (320, 200)),
        (vp8(800, 600), "image/webp", (800, 600)),
        (vp8l(16383, 2), "image/webp", (16383, 2)),
        (vp8x(5000, 4000), "image/webp", (5000, 4000)),
    ],
)
def test_size_and_kind_are_read_from_the_header(data: bytes, media_type: str, size: tuple[int, int]) -> None:
    assert sniff_media_type(data) == media_type
    assert image_dimensions(data) == size


@pytest.mark.parametrize(
    "data", [b"", b"<html>", b"\x89PNG\r\n\x1a\n\x00\x00", b"\xff\xd8\xff\xe0\x00", b"RIFF"]
)
def test_what_is_not_a_whole_image_header_has_no_size(data: bytes) -> None:
    assert image_dimensions(data) is None


@pytest.mark.parametrize(
    ("width", "height", "tokens"),
    [
        (1, 1, 1),
        (200, 200, 54),  # Anthropic's table: ~54
        (1000, 1000, 1334),  # ~1334
        (1092, 1092, 1590),  # the largest square that is not resized: ~1590
        (4000, 3000, 1600),  # resized to the cap
        (1568, 100, 210),  # long edge at the limit: not resized
        (3136, 200, 210),  # long edge twice the limit: halved
    ],
)
def test_tokens_follow_anthropics_resize_rule(width: int, height: int, tokens: int) -> None:
    assert tokens_for_size(width, height) == tokens


@pytest.mark.parametrize(
    ("size", "tokens"), [((1, 1), 1), ((200, 200), 54), ((1000, 1000), 1334), ((4000, 3000), 1600)]
)
def test_an_inline_image_counts_by_its_size(size: tuple[int, int], tokens: int) -> None:
    def request(with_image: bool) -> int:
        content: list[dict[str, object]] = [{"type": "text", "text": "What is this?"}]
        if with_image:
            data = base64.b64encode(png(*size)).decode()
            source = {"type": "base64", "media_type": "image/png", "data": data}
            content.insert(0, {"type": "image", "source": source})
        body = {
            "model": "claude-sonnet-4-5",
            "max_tokens": 10,
            "messages": [{"role": "user", "content": content}],
        }
        return count_tokens(parse_anthropic(body))

    assert request(with_image=True) - request(with_image=False) == tokens


def test_a_jpeg_whose_size_marker_is_far_in_still_counts_by_its_size() -> None:
    data = base64.b64encode(jpeg(200, 200, exif_segments=2)).decode()  # the size ~170 000 characters in
    assert image_tokens(ImagePart("image/jpeg", data)) == 54


def test_an_image_whose_size_cannot_be_read_counts_as_the_cap() -> None:
    assert image_tokens(ImagePart("image/png", base64.b64encode(b"garbage").decode())) == MAX_IMAGE_TOKENS

"""Fault suite 9b: the event-stream decoder and the Kiro event parser under a million hostile frames.

Every frame has a valid prelude CRC (so the decoder trusts its lengths and goes on to the headers and
payload); most also carry a valid message CRC, so malformed header blocks and absurd JSON payloads reach
the header parser and the event parser. The only exception allowed out is `EventStreamError`; the bytes
held back never exceed one frame, and the process does not grow.
"""

from __future__ import annotations

import random
import resource
import struct
import zlib
from dataclasses import dataclass

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.errors import EventStreamError
from shared.kiro.events import KiroEventStream
from shared.kiro.eventstream import MAX_FRAME, encode_frame
from tests.chaos.conftest import figure

BATCHES = 200
FRAMES_PER_BATCH = 5000  # 10^6 frames in all

EVENT_TYPES = [
    "assistantResponseEvent",
    "toolUseEvent",
    "reasoningContentEvent",
    "meteringEvent",
    "contextUsageEvent",
    "messageMetadataEvent",
    "supplementaryWebLinksEvent",
    "codeReferenceEvent",
    "followupPromptEvent",
    "invalidStateEvent",
    "",
]
EXCEPTION_TYPES = [
    "ThrottlingException",
    "AccessDeniedException",
    "ValidationException",
    "InternalServerException",
]
KEYS = [
    "content",
    "name",
    "toolUseId",
    "input",
    "stop",
    "text",
    "signature",
    "usage",
    "unit",
    "message",
    "contextUsagePercentage",
    "inputTokens",
    "outputTokens",
    "reason",
    "metadataEvent",
    "redactedContent",
]


@dataclass
class Tally:
    frames: int = 0
    errors: int = 0
    events: int = 0
    max_buffered: int = 0


def _value(rng: random.Random, depth: int = 0) -> object:
    pick = rng.randrange(10)
    if pick == 0:
        return None
    if pick == 1:
        return rng.choice([True, False])
    if pick == 2:
        return rng.randint(-(2**63), 2**63)
    if pick == 3:
        return rng.choice([1e308, -0.0, 3.5, float(rng.randint(0, 10**6))])
    if pick in (4, 5, 6):
        return (
            "".join(
                chr(rng.choice([rng.randint(32, 126), rng.randint(0x80, 0x10FFFF)]))
                for _ in range(rng.randint(0, 12))
            )
            .encode("utf-8", "surrogatepass")
            .decode("utf-8", "replace")
        )
    if depth < 3 and pick == 7:
        return [_value(rng, depth + 1) for _ in range(rng.randint(0, 3))]
    if depth < 3:
        return {rng.choice(KEYS): _value(rng, depth + 1) for _ in range(rng.randint(0, 4))}
    return ""


def _payload(rng: random.Random) -> bytes:
    kind = rng.randrange(6)
    if kind == 0:
        return rng.randbytes(rng.randint(0, 64))
    if kind == 1:
        return b"{" + rng.randbytes(rng.randint(0, 16))
    body = {rng.choice(KEYS): _value(rng) for _ in range(rng.randint(0, 5))}
    return orjson.dumps(body)


def _headers(rng: random.Random) -> list[tuple[str, object]]:
    message_type = rng.choice(["event", "event", "event", "exception", "error", "bogus"])
    headers: list[tuple[str, object]] = [(":message-type", message_type)]
    if message_type == "event":
        headers.append((":event-type", rng.choice(EVENT_TYPES)))
    else:
        headers.append((":exception-type", rng.choice(EXCEPTION_TYPES)))
        headers.append((":error-code", rng.choice(EXCEPTION_TYPES)))
    if rng.random() < 0.3:
        headers.append((":content-type", rng.choice(["application/json", "text/plain", ""])))
    return headers


def _with_crcs(rng: random.Random, headers_block: bytes, payload: bytes, *, good_message_crc: bool) -> bytes:
    """A frame around arbitrary header bytes: valid prelude CRC, message CRC valid unless told."""
    total = 12 + len(headers_block) + len(payload) + 4
    prelude = struct.pack(">II", total, len(headers_block))
    prelude += struct.pack(">I", zlib.crc32(prelude))
    body = prelude + headers_block + payload
    crc = zlib.crc32(body)
    if not good_message_crc:
        crc ^= 1 << rng.randrange(32)
    return body + struct.pack(">I", crc)


def _frame(rng: random.Random) -> bytes:
    payload = _payload(rng)
    well_formed = encode_frame(_headers(rng), payload)
    kind = rng.randrange(10)
    if kind < 5:  # a structurally valid frame carrying hostile JSON
        return well_formed
    headers_len = struct.unpack_from(">I", well_formed, 4)[0]
    block = bytearray(well_formed[12 : 12 + headers_len])
    if kind < 8 and block:  # flipped header bytes, both CRCs recomputed: the header parser must cope
        for _ in range(rng.randint(1, 4)):
            block[rng.randrange(len(block))] = rng.randrange(256)
    elif kind == 8:  # random header bytes
        block = bytearray(rng.randbytes(rng.randint(0, 40)))
    return _with_crcs(rng, bytes(block), payload, good_message_crc=kind != 9 or rng.random() < 0.5)


def _run_batch(seed: int, tally: Tally) -> None:
    rng = random.Random(seed)
    stream = KiroEventStream()
    for _ in range(FRAMES_PER_BATCH):
        frame = _frame(rng)
        tally.frames += 1
        cuts = sorted(rng.sample(range(1, len(frame)), k=min(len(frame) - 1, rng.randint(0, 2))))
        pieces = [frame[a:b] for a, b in zip([0, *cuts], [*cuts, len(frame)], strict=True)]
        try:
            for piece in pieces:
                tally.events += len(stream.feed(piece))
                tally.max_buffered = max(tally.max_buffered, stream._decoder.buffered)
        except EventStreamError:
            tally.errors += 1
            stream = KiroEventStream()  # a failed decoder stays failed: the next frame starts a new body
    try:
        tally.events += len(stream.close())
    except EventStreamError:
        tally.errors += 1


def _max_rss_kib() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def test_a_million_hostile_frames_raise_only_event_stream_errors_in_bounded_memory() -> None:
    tally = Tally()
    rss_before = _max_rss_kib()

    @settings(max_examples=BATCHES, deadline=None, database=None, derandomize=True)
    @given(seed=st.integers(0, 2**32 - 1))
    def batch(seed: int) -> None:
        _run_batch(seed, tally)

    batch()
    grown_mib = (_max_rss_kib() - rss_before) / 1024
    figure("decoder_fuzz", "frames", tally.frames, ">= 1,000,000")
    figure("decoder_fuzz", "crashes (exceptions other than EventStreamError)", 0, "0")
    figure("decoder_fuzz", "frames rejected with EventStreamError", tally.errors)
    figure("decoder_fuzz", "events parsed", tally.events)
    figure("decoder_fuzz", "max bytes held back", tally.max_buffered, f"< one frame (limit {MAX_FRAME})")
    figure("decoder_fuzz", "peak RSS growth MiB", round(grown_mib, 1), "< 64")
    assert tally.frames == BATCHES * FRAMES_PER_BATCH
    assert 0 < tally.errors < tally.frames  # both paths were exercised
    assert tally.events > tally.frames // 10
    assert tally.max_buffered < 64 * 1024
    assert grown_mib < 64

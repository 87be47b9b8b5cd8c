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


def _well_formed(rng: random.Random) -> tuple[bytes, bytes]:
    """(header block, payload) of a structurally valid frame carrying hostile JSON."""
    frame = encode_frame(_headers(rng), _payload(rng))
    headers_len = struct.unpack_from(">I", frame, 4)[0]
    return frame[12 : 12 + headers_len], frame[12 + headers_len : -4]


def _frame(rng: random.Random, pool: list[tuple[bytes, bytes]]) -> bytes:
    """A frame built from the pool: as it is, with header bytes flipped or replaced, or a bad message CRC.

    Every variant has a valid prelude CRC, so the decoder trusts its lengths and parses what follows.
    """
    block, payload = pool[int(rng.random() * len(pool))]
    kind = int(rng.random() * 10)
    if kind < 5:
        return _with_crcs(rng, block, payload, good_message_crc=True)
    if kind < 8 and block:  # flipped header bytes, both CRCs recomputed: the header parser must cope
        flipped = bytearray(block)
        for _ in range(1 + int(rng.random() * 4)):
            flipped[int(rng.random() * len(flipped))] = int(rng.random() * 256)
        return _with_crcs(rng, bytes(flipped), payload, good_message_crc=True)
    if kind == 8:  # random header bytes
        return _with_crcs(rng, rng.randbytes(int(rng.random() * 40)), payload, good_message_crc=True)
    return _with_crcs(rng, block, payload, good_message_crc=rng.random() < 0.5)


def _run_batch(seed: int, pool: list[tuple[bytes, bytes]], tally: Tally) -> None:
    rng = random.Random(seed)
    pool = pool + [_well_formed(rng) for _ in range(50)]  # each batch adds frames of its own
    stream = KiroEventStream()
    for _ in range(FRAMES_PER_BATCH):
        frame = _frame(rng, pool)
        tally.frames += 1
        cut = int(rng.random() * len(frame) * 1.5)  # a third of the frames arrive in two reads
        pieces = (frame[:cut], frame[cut:]) if 0 < cut < len(frame) else (frame,)
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
    seeds = random.Random(11)
    pool = [_well_formed(seeds) for _ in range(2000)]
    rss_before = _max_rss_kib()

    @settings(max_examples=BATCHES, deadline=None, database=None, derandomize=True)
    @given(seed=st.integers(0, 2**32 - 1))
    def batch(seed: int) -> None:
        _run_batch(seed, pool, tally)

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

"""Turns a script into the frames of one answer (sans-I/O): text, thinking, tool calls, output cap.

Content is first built as `Piece`s (one per frame, still editable), so the output cap can cut a piece in
the middle and keep the rest for a continuation request; only then are pieces encoded to frames.
"""

from __future__ import annotations

import json
import math
import secrets
import string
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Literal

from services.kiro_emulator.scripts import ExceptionSpec, RawEvent, Script, StreamBehaviour, ToolCallSpec
from shared.kiro.eventstream import encode_event, encode_exception, encode_frame

TEXT_FRAME_CHARS = 40
TOOL_FRAGMENT_CHARS = 40
DEFAULT_CREDITS = 0.01
ECHO_MAX_CHARS = 10_000
_FRAME_CACHE = 8192

PieceKind = Literal["text", "tool_start", "tool_input", "tool_stop", "raw"]
_ID_CHARS = string.ascii_letters + string.digits


@dataclass(slots=True)
class Piece:
    """One future frame; `text` is the part the output cap counts (answer text or tool input)."""

    kind: PieceKind
    text: str = ""
    tool_id: str = ""
    name: str = ""
    raw: bytes = b""

    @property
    def chars(self) -> int:
        return len(self.text) if self.kind in ("text", "tool_input") else 0

    def with_text(self, text: str) -> Piece:
        return Piece(self.kind, text, self.tool_id, self.name, self.raw)

    def encode(self) -> bytes:
        if self.kind == "text":
            return _text_frame(self.text)
        if self.kind == "tool_start":
            return _tool_frame(self.tool_id, self.name, "", stop=False)
        if self.kind == "tool_input":
            return _tool_frame(self.tool_id, self.name, self.text, stop=False)
        if self.kind == "tool_stop":
            return _tool_frame(self.tool_id, self.name, "", stop=True)
        return self.raw


# Benchmarks repeat the same answers: encoding (CRCs, headers) is most of the emulator's CPU per
# stream, and identical frames are common, so encoded frames are memoised.
@lru_cache(maxsize=_FRAME_CACHE)
def _text_frame(content: str) -> bytes:
    return encode_event("assistantResponseEvent", {"content": content})


@lru_cache(maxsize=_FRAME_CACHE)
def _tool_frame(tool_id: str, name: str, fragment: str, *, stop: bool) -> bytes:
    payload: dict[str, object] = {"toolUseId": tool_id, "name": name}
    if stop:
        payload["stop"] = True
    else:
        payload["input"] = fragment
    return encode_event("toolUseEvent", payload)


@lru_cache(maxsize=_FRAME_CACHE)
def _trailer_frame(event_type: str, value: float) -> bytes:
    if event_type == "meteringEvent":
        return encode_event(event_type, {"unit": "credit", "unitPlural": "credits", "usage": value})
    return encode_event(event_type, {"contextUsagePercentage": value})


@dataclass
class Continuation:
    """The rest of an answer the output cap cut off, served to the next continuation request."""

    conversation_id: str
    tool_id: str | None
    pieces: list[Piece]
    output_cap: int | None
    continue_as: Literal["tool", "text"]
    metering: float | bool | None
    context_usage: float | bool | None

    def matches(self, conversation_id: str, raw_body: bytes) -> bool:
        if conversation_id == self.conversation_id:
            return True
        return self.tool_id is not None and self.tool_id.encode() in raw_body

    def answer_pieces(self) -> list[Piece]:
        if self.continue_as == "tool" or self.tool_id is None:
            return list(self.pieces)
        out: list[Piece] = []
        in_cut_tool = True
        for piece in self.pieces:
            if in_cut_tool and piece.tool_id == self.tool_id:
                if piece.kind == "tool_input":
                    out.append(Piece("text", piece.text))
                continue
            in_cut_tool = False
            out.append(piece)
        return out


@dataclass
class StreamPlan:
    """Frames to send and how: delays (seconds), breakage after some frames."""

    frames: list[bytes]
    credits: float
    first_byte_delay: float = 0.0
    first_frame_delay: float = 0.0
    delay: float = 0.0
    reset_after: int | None = None
    exception: ExceptionSpec | None = None
    continuation: Continuation | None = field(default=None, repr=False)


def split_even(text: str, parts: int) -> list[str]:
    """`text` in `parts` nearly equal non-empty slices (fewer when the text is shorter)."""
    parts = max(1, min(parts, len(text)))
    if not text:
        return []
    size, extra = divmod(len(text), parts)
    out, pos = [], 0
    for i in range(parts):
        step = size + (1 if i < extra else 0)
        out.append(text[pos : pos + step])
        pos += step
    return out


def _split_default(text: str, frame_chars: int) -> list[str]:
    return split_even(text, math.ceil(len(text) / frame_chars)) if text else []


def new_tool_use_id() -> str:
    return "tooluse_" + "".join(secrets.choice(_ID_CHARS) for _ in range(22))


def _thinking_pieces(thinking: str) -> list[Piece]:
    # Tags cut across frames on purpose, like Kiro does (`<think` + `ing>`, `</thin` + `king>`).
    half = len(thinking) // 2
    texts = ["<think", "ing>" + thinking[:half], thinking[half:] + "</thin", "king>\n\n"]
    return [Piece("text", t) for t in texts if t]


def _tool_pieces(call: ToolCallSpec) -> list[Piece]:
    tool_id = call.id or new_tool_use_id()
    pieces: list[Piece] = []
    if isinstance(call.input, list):
        fragments = call.input  # exact frames, as given
    else:
        raw_input = call.input if isinstance(call.input, str) else json.dumps(call.input, ensure_ascii=False)
        fragments = (
            split_even(raw_input, call.chunks)
            if call.chunks
            else _split_default(raw_input, TOOL_FRAGMENT_CHARS)
        )
        pieces.append(Piece("tool_start", tool_id=tool_id, name=call.name))
    pieces += [Piece("tool_input", f, tool_id, call.name) for f in fragments]
    pieces.append(Piece("tool_stop", tool_id=tool_id, name=call.name))
    return pieces


def _raw_piece(event: RawEvent) -> Piece:
    if event.exception:
        return Piece("raw", raw=encode_exception(event.exception, event.message))
    if event.error_code:
        headers = [
            (":error-code", event.error_code),
            (":error-message", event.error_message),
            (":message-type", "error"),
        ]
        return Piece("raw", raw=encode_frame(headers, b""))
    return Piece("raw", raw=encode_event(event.event or "unknownEvent", event.payload))


def content_pieces(script: Script, echo: str) -> list[Piece]:
    """Every content frame of the answer, before the output cap and the metering/context trailer."""
    pieces: list[Piece] = []
    if script.thinking is not None:
        pieces += _thinking_pieces(script.thinking)
    text = script.text
    if text is None and not script.tool_calls:
        text = echo[:ECHO_MAX_CHARS].strip() or "OK"
    if isinstance(text, list):
        pieces += [Piece("text", c) for c in text]  # exact frames, as given
    elif text:
        chunks = split_even(text, script.chunks) if script.chunks else _split_default(text, TEXT_FRAME_CHARS)
        pieces += [Piece("text", c) for c in chunks]
    for call in script.tool_calls:
        pieces += _tool_pieces(call)
    pieces += [_raw_piece(e) for e in script.events]
    return pieces


def apply_cap(pieces: list[Piece], cap: int | None) -> tuple[list[Piece], list[Piece], str | None]:
    """Split at `cap` characters: (sent, rest, toolUseId of a tool call cut in the middle)."""
    if cap is None:
        return pieces, [], None
    budget = cap
    for i, piece in enumerate(pieces):
        if piece.chars <= budget:
            budget -= piece.chars
            continue
        head, tail = piece.text[:budget], piece.text[budget:]
        sent = pieces[:i] + ([piece.with_text(head)] if head else [])
        rest = [piece.with_text(tail), *pieces[i + 1 :]]
        return sent, rest, piece.tool_id or None
    return pieces, [], None


def trailer(
    metering: float | bool | None, context_usage: float | bool | None, default_context: float
) -> tuple[list[bytes], float]:
    """The meteringEvent / contextUsageEvent frames Kiro ends an answer with, and the credits charged."""
    frames: list[bytes] = []
    credits = 0.0
    if metering is not False:
        credits = DEFAULT_CREDITS if metering is None or metering is True else float(metering)
        frames.append(_trailer_frame("meteringEvent", credits))
    if context_usage is not False:
        pct = default_context if context_usage is None or context_usage is True else float(context_usage)
        frames.append(_trailer_frame("contextUsageEvent", pct))
    return frames, credits


def context_percentage(body_bytes: int, window: int) -> float:
    """Roughly what Kiro reports: the request's tokens (bytes / 4) as a percentage of the input window."""
    return round(body_bytes / 4 / window * 100, 4)


def build_plan(
    pieces: list[Piece],
    *,
    conversation_id: str,
    output_cap: int | None,
    continue_as: Literal["tool", "text"],
    metering: float | bool | None,
    context_usage: float | bool | None,
    default_context: float,
    behaviour: StreamBehaviour,
) -> StreamPlan:
    sent, rest, cut_tool = apply_cap(pieces, output_cap)
    tail, credits = trailer(metering, context_usage, default_context)
    plan = StreamPlan(frames=[p.encode() for p in sent] + tail, credits=credits)
    if rest:
        plan.continuation = Continuation(
            conversation_id, cut_tool, rest, output_cap, continue_as, metering, context_usage
        )
    apply_behaviour(plan, behaviour)
    return plan


def apply_behaviour(plan: StreamPlan, behaviour: StreamBehaviour) -> None:
    """Set the timing/breakage fields that `behaviour` specifies (later calls override earlier ones)."""
    if behaviour.first_byte_delay_ms is not None:
        plan.first_byte_delay = behaviour.first_byte_delay_ms / 1000
    if behaviour.first_frame_delay_ms is not None:
        plan.first_frame_delay = behaviour.first_frame_delay_ms / 1000
    if behaviour.delay_ms is not None:
        plan.delay = behaviour.delay_ms / 1000
    if behaviour.reset_after_frames is not None:
        plan.reset_after = behaviour.reset_after_frames
    if behaviour.exception is not None:
        plan.exception = behaviour.exception

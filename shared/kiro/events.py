"""Kiro event layer (sans-I/O): decoded event-stream frames → typed events (kiro-protocol.md §7, §8.2).

    parser = KiroEventParser()
    for frame in decoder.feed(chunk):         # shared.kiro.eventstream.EventStreamDecoder
        for event in parser.feed(frame):
            ...
    events = parser.finish()                  # closes a tool call left open at the end of the stream

`KiroEventStream` bundles decoder and parser (`feed(bytes)` → events, `close()` → closing events) and
`parse_stream(chunks)` turns a whole body into a list (tests, non-streaming paths).

Events (frozen dataclasses): `TextDelta`, `ReasoningDelta` (native `reasoningContentEvent`),
`ToolUseStart`, `ToolUseInputDelta`, `ToolUseStop`, `Metering` (credits), `ContextUsage` (percent of
the context window), `MessageMetadata` (optional `TokenUsage`), `StreamError` and `UnknownEvent`.

Rules:
* Payloads are parsed with orjson from whole frame payloads only, so UTF-8 split across network reads
  never matters. An event payload that is not a JSON object raises `EventStreamError`; a known event
  whose fields have unexpected types comes out as `UnknownEvent` (kept, never dropped), as do event
  types this module does not know.
* Text deltas are passed on as they come (empty ones produce none): repeated identical deltas are
  legitimate (protocol §11.6).
* Tool calls (§7.1): fragments are concatenated per `toolUseId`; an object `input` is serialised (`{}`
  means no fragment); a new `toolUseId` before `stop` closes the open call, and so does `finish()`;
  frames for an already closed call are ignored (duplicates); `ToolUseStop.input_json` is the whole
  input (`"{}"` when empty) and `input` its parsed object, or `None` with `input_error` set when it is
  not a JSON object (typically a large tool input truncated upstream) — never silently `{}`.
* `:message-type` `exception` or `error`, and `invalidStateEvent`, become one `StreamError`; the parser
  then ignores every later frame and `finish()` closes nothing (the answer is incomplete).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Literal

import orjson

from shared.errors import EventStreamError
from shared.kiro.eventstream import MAX_FRAME, EventStreamDecoder, Frame


@dataclass(slots=True, frozen=True)
class TextDelta:
    """A piece of the assistant's answer text (`assistantResponseEvent.content`)."""

    text: str


@dataclass(slots=True, frozen=True)
class ReasoningDelta:
    """A piece of native reasoning (`reasoningContentEvent`); `signature` when Kiro sends one."""

    text: str
    signature: str | None = None


@dataclass(slots=True, frozen=True)
class ToolUseStart:
    """The first frame of a tool call."""

    tool_use_id: str
    name: str


@dataclass(slots=True, frozen=True)
class ToolUseInputDelta:
    """A fragment of a tool call's JSON input, in arrival order."""

    tool_use_id: str
    fragment: str


ToolCloseReason = Literal["stop", "next_tool", "end_of_stream"]


@dataclass(slots=True, frozen=True)
class ToolUseStop:
    """A finished tool call with its reassembled input.

    `input` is the parsed object, or None when `input_json` is not a JSON object (`input_error` says
    why). `closed_by` tells whether Kiro sent `stop`, another call started, or the stream ended.
    """

    tool_use_id: str
    name: str
    input_json: str
    input: dict[str, Any] | None
    input_error: str | None
    closed_by: ToolCloseReason


@dataclass(slots=True, frozen=True)
class Metering:
    """Credits consumed by this request (`meteringEvent.usage`)."""

    usage: float
    unit: str | None = None
    unit_plural: str | None = None


@dataclass(slots=True, frozen=True)
class ContextUsage:
    """Percent of the model's context window the request used (`contextUsageEvent`)."""

    percentage: float


@dataclass(slots=True, frozen=True)
class TokenUsage:
    """`messageMetadataEvent.tokenUsage`, when Kiro includes it (absent fields are 0)."""

    output_tokens: int = 0
    uncached_input_tokens: int = 0
    cache_read_input_tokens: int = 0
    cache_write_input_tokens: int = 0


@dataclass(slots=True, frozen=True)
class MessageMetadata:
    """`messageMetadataEvent` / `metadataEvent`: conversation ids and optional token usage."""

    conversation_id: str | None = None
    utterance_id: str | None = None
    token_usage: TokenUsage | None = None


StreamErrorSource = Literal["exception", "error", "invalid_state"]


@dataclass(slots=True, frozen=True)
class StreamError:
    """An error inside a 200 stream: `exception` / `error` frames or `invalidStateEvent`.

    `error_type` is the `:exception-type`, the `:error-code`, or the invalid-state `reason`.
    """

    source: StreamErrorSource
    error_type: str
    message: str


@dataclass(slots=True, frozen=True)
class UnknownEvent:
    """A frame this layer does not understand, kept so callers can log or count it."""

    message_type: str | None
    event_type: str | None
    payload: bytes
    reason: str


KiroEvent = (
    TextDelta
    | ReasoningDelta
    | ToolUseStart
    | ToolUseInputDelta
    | ToolUseStop
    | Metering
    | ContextUsage
    | MessageMetadata
    | StreamError
    | UnknownEvent
)


class _ToolCall:
    __slots__ = ("name", "parts", "tool_use_id")

    def __init__(self, tool_use_id: str, name: str) -> None:
        self.tool_use_id = tool_use_id
        self.name = name
        self.parts: list[str] = []


class KiroEventParser:
    """Incremental frames → events; `feed()` each frame as it arrives, `finish()` at the end."""

    def __init__(self) -> None:
        self._open: _ToolCall | None = None
        self._closed_ids: set[str] = set()
        self._tool_calls: list[ToolUseStop] = []
        self._error: StreamError | None = None
        self._finished = False

    @property
    def error(self) -> StreamError | None:
        """The in-stream error that stopped parsing, if any."""
        return self._error

    @property
    def tool_calls(self) -> list[ToolUseStop]:
        """Every finished tool call so far, in first-seen order."""
        return list(self._tool_calls)

    def feed(self, frame: Frame) -> list[KiroEvent]:
        """The events one frame produces (often one, none for empty deltas, several for tool calls)."""
        if self._error is not None or self._finished:
            return []
        message_type = frame.message_type
        if message_type == "event" or (message_type is None and frame.event_type is not None):
            return self._event(frame)
        if message_type == "exception":
            return self._fail("exception", frame.exception_type or "UnknownException", _message(frame))
        if message_type == "error":
            code = frame.headers.get(":error-code")
            text = frame.headers.get(":error-message")
            return self._fail(
                "error",
                code if isinstance(code, str) else "UnknownError",
                text if isinstance(text, str) else _message(frame),
            )
        return [_unknown(frame, "unknown message type")]

    def feed_all(self, frames: Iterable[Frame]) -> list[KiroEvent]:
        """`feed()` several frames; the events of all of them in order."""
        events: list[KiroEvent] = []
        for frame in frames:
            events += self.feed(frame)
        return events

    def finish(self) -> list[KiroEvent]:
        """End of stream: close a tool call still open (unless an error stopped the stream)."""
        if self._finished:
            return []
        self._finished = True
        if self._error is None and self._open is not None:
            return [self._close(self._open, "end_of_stream")]
        return []

    def _event(self, frame: Frame) -> list[KiroEvent]:
        event_type = frame.event_type
        handler = _HANDLERS.get(event_type or "")
        if handler is None:
            return [_unknown(frame, "unknown event type")]
        payload = _json_object(frame)
        return handler(self, frame, payload)

    def _text(self, frame: Frame, payload: dict[str, Any]) -> list[KiroEvent]:
        content = payload.get("content")
        if not isinstance(content, str):
            return [_unknown(frame, "content is not a string")]
        return [TextDelta(content)] if content else []

    def _reasoning(self, frame: Frame, payload: dict[str, Any]) -> list[KiroEvent]:
        text = payload.get("text")
        signature = payload.get("signature")
        valid_types = isinstance(text, str | None) and isinstance(signature, str | None)
        if not valid_types or (text is None and signature is None):
            return [_unknown(frame, "reasoning without text or signature")]
        return [ReasoningDelta(text or "", signature)]

    def _tool_use(self, frame: Frame, payload: dict[str, Any]) -> list[KiroEvent]:
        tool_use_id = payload.get("toolUseId")
        name = payload.get("name")
        if not isinstance(tool_use_id, str) or not tool_use_id or not isinstance(name, str | None):
            return [_unknown(frame, "toolUseEvent without a toolUseId")]
        if tool_use_id in self._closed_ids:
            return []
        events: list[KiroEvent] = []
        call = self._open
        if call is None or call.tool_use_id != tool_use_id:
            if call is not None:
                events.append(self._close(call, "next_tool"))
            call = self._open = _ToolCall(tool_use_id, name or "")
            events.append(ToolUseStart(tool_use_id, call.name))
        elif name and not call.name:
            call.name = name
        fragment = _fragment(payload.get("input"))
        if fragment:
            call.parts.append(fragment)
            events.append(ToolUseInputDelta(tool_use_id, fragment))
        if payload.get("stop") is True:
            events.append(self._close(call, "stop"))
        return events

    def _metering(self, frame: Frame, payload: dict[str, Any]) -> list[KiroEvent]:
        usage = _number(payload.get("usage"))
        if usage is None:
            return [_unknown(frame, "usage is not a number")]
        return [Metering(usage, _str_or_none(payload.get("unit")), _str_or_none(payload.get("unitPlural")))]

    def _context_usage(self, frame: Frame, payload: dict[str, Any]) -> list[KiroEvent]:
        percentage = _number(payload.get("contextUsagePercentage"))
        if percentage is None:
            return [_unknown(frame, "contextUsagePercentage is not a number")]
        return [ContextUsage(percentage)]

    def _metadata(self, frame: Frame, payload: dict[str, Any]) -> list[KiroEvent]:
        usage = payload.get("tokenUsage")
        token_usage = None
        if isinstance(usage, dict):
            token_usage = TokenUsage(
                _int(usage.get("outputTokens")),
                _int(usage.get("uncachedInputTokens")),
                _int(usage.get("cacheReadInputTokens")),
                _int(usage.get("cacheWriteInputTokens")),
            )
        return [
            MessageMetadata(
                _str_or_none(payload.get("conversationId")),
                _str_or_none(payload.get("utteranceId")),
                token_usage,
            )
        ]

    def _invalid_state(self, frame: Frame, payload: dict[str, Any]) -> list[KiroEvent]:
        reason = _str_or_none(payload.get("reason")) or "INVALID_STATE"
        return self._fail("invalid_state", reason, _str_or_none(payload.get("message")) or reason)

    def _fail(self, source: StreamErrorSource, error_type: str, message: str) -> list[KiroEvent]:
        self._error = StreamError(source, error_type, message)
        return [self._error]

    def _close(self, call: _ToolCall, closed_by: ToolCloseReason) -> ToolUseStop:
        input_json = "".join(call.parts)
        if not input_json.strip():
            input_json = "{}"
        parsed: dict[str, Any] | None = None
        input_error = None
        try:
            value = orjson.loads(input_json)
        except orjson.JSONDecodeError:
            input_error = f"tool input is not valid JSON ({len(input_json)} chars; truncated upstream?)"
        else:
            if isinstance(value, dict):
                parsed = value
            else:
                input_error = f"tool input is JSON {type(value).__name__}, not an object"
        stop = ToolUseStop(call.tool_use_id, call.name, input_json, parsed, input_error, closed_by)
        self._open = None
        self._closed_ids.add(call.tool_use_id)
        self._tool_calls.append(stop)
        return stop


_Handler = Callable[[KiroEventParser, Frame, dict[str, Any]], list[KiroEvent]]

_HANDLERS: dict[str, _Handler] = {
    "assistantResponseEvent": KiroEventParser._text,
    "reasoningContentEvent": KiroEventParser._reasoning,
    "toolUseEvent": KiroEventParser._tool_use,
    "meteringEvent": KiroEventParser._metering,
    "contextUsageEvent": KiroEventParser._context_usage,
    "messageMetadataEvent": KiroEventParser._metadata,
    "metadataEvent": KiroEventParser._metadata,
    "invalidStateEvent": KiroEventParser._invalid_state,
}


class KiroEventStream:
    """Decoder and parser together: raw body bytes in, events out."""

    def __init__(self, *, max_frame_size: int = MAX_FRAME) -> None:
        self._decoder = EventStreamDecoder(max_frame_size=max_frame_size)
        self.parser = KiroEventParser()

    @property
    def failed(self) -> bool:
        """Corrupt bytes were seen; the next `feed()`/`close()` raises (the events before came out)."""
        return self._decoder.failed

    def feed(self, data: bytes) -> list[KiroEvent]:
        """Events completed by this chunk; raises `EventStreamError` on corrupt bytes."""
        return self.parser.feed_all(self._decoder.feed(data))

    def close(self) -> list[KiroEvent]:
        """End of body: raises `EventStreamError` if it was truncated, else the closing events."""
        self._decoder.close()
        return self.parser.finish()


def parse_stream(chunks: Iterable[bytes]) -> list[KiroEvent]:
    """Every event of a whole body given as chunks (tests, non-streaming callers)."""
    stream = KiroEventStream()
    events: list[KiroEvent] = []
    for chunk in chunks:
        events += stream.feed(chunk)
    return events + stream.close()


def _json_object(frame: Frame) -> dict[str, Any]:
    try:
        value = orjson.loads(frame.payload)
    except orjson.JSONDecodeError as exc:
        raise EventStreamError(f"{frame.event_type} payload is not valid JSON: {exc}") from None
    if not isinstance(value, dict):
        raise EventStreamError(f"{frame.event_type} payload is not a JSON object")
    return value


def _message(frame: Frame) -> str:
    """The `message` of an exception/error payload, or the payload text when it is not JSON."""
    try:
        value = orjson.loads(frame.payload)
    except orjson.JSONDecodeError:
        return frame.payload.decode(errors="replace")
    if isinstance(value, dict):
        for key in ("message", "Message"):
            message = value.get(key)
            if isinstance(message, str):
                return message
    return frame.payload.decode(errors="replace")


def _fragment(value: object) -> str:
    """A tool input fragment: strings as sent, other JSON serialised, `{}` / null meaning none."""
    if isinstance(value, str):
        return value
    if value is None or value == {}:
        return ""
    return orjson.dumps(value).decode()


def _number(value: object) -> float | None:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return None


def _int(value: object) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _str_or_none(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _unknown(frame: Frame, reason: str) -> UnknownEvent:
    return UnknownEvent(frame.message_type, frame.event_type, frame.payload, reason)

"""What both output translators share: Kiro events -> answer blocks, usage, stop reason, failures.

Subclasses render each step (`_open_text`, `_text`, `_open_thinking`, ... ) as SSE bytes of their
protocol and build the non-streaming result from `blocks`.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

import orjson

from services.gateway.kiro.classify import classify_exception_frame
from services.gateway.translate.stops import StopMatcher
from services.gateway.translate.structured import FenceStripper, OutputFormat, Verdict, check
from services.gateway.translate.thinking import Piece, ThinkingSplitter
from services.gateway.translate.tokens import count_text
from services.gateway.translate.tools import ToolNameMap
from shared.errors import FailureKind
from shared.kiro.events import (
    ContextUsage,
    KiroEvent,
    MessageMetadata,
    Metering,
    ReasoningDelta,
    StreamError,
    TextDelta,
    ToolUseInputDelta,
    ToolUseStart,
    ToolUseStop,
)

StopReason = Literal["end_turn", "tool_use", "max_tokens", "stop_sequence", "model_context_window_exceeded"]

#: in-stream exception types that mean "the answer hit the output limit", not a failure
_LENGTH_EXCEPTIONS = frozenset({"ContentLengthExceededException"})


@dataclass(frozen=True, slots=True)
class Usage:
    input_tokens: int
    output_tokens: int
    credits: float


@dataclass
class Block:
    """One block of the answer as it accumulates (for `result()` and the truncation checks)."""

    kind: Literal["text", "thinking", "tool_use", "server_tool_use", "web_search_tool_result"]
    parts: list[str] = field(default_factory=list)
    tool_use_id: str = ""
    name: str = ""  # the client's tool name
    kiro_name: str = ""  # the name Kiro used (differs when the client's was too long)
    signature: str = ""
    tool_index: int = 0
    truncated: bool = False
    #: server tool blocks: the `srvtoolu_` id the client sees (a result block's `tool_use_id` is it too)
    client_id: str = ""
    #: a `web_search_tool_result` block's `content` (result list or error object)
    content: Any = None

    @property
    def text(self) -> str:
        return "".join(self.parts)

    def tool_input(self) -> dict[str, Any] | None:
        """The parsed input object, or None while it is not (yet) a complete JSON object."""
        raw = self.text.strip() or "{}"
        try:
            value = orjson.loads(raw)
        except orjson.JSONDecodeError:
            return None
        return value if isinstance(value, dict) else None


def signature_for(thinking: str) -> str:
    """A stable opaque signature: clients need one to echo thinking back; Kiro never checks it."""
    return base64.b64encode(hashlib.sha256(thinking.encode()).digest()).decode()


class JsonEnd:
    """Finds where a JSON object that began in earlier text ends, scanning text as it streams."""

    __slots__ = ("_depth", "_escape", "_in_string", "_started")

    def __init__(self, prefix: str = "") -> None:
        self._depth = 0
        self._in_string = False
        self._escape = False
        self._started = False
        self.feed(prefix)

    def feed(self, text: str) -> int:
        """Index just after the character that closes the object, or -1 while it is still open."""
        for index, char in enumerate(text):
            if self._in_string:
                if self._escape:
                    self._escape = False
                elif char == "\\":
                    self._escape = True
                elif char == '"':
                    self._in_string = False
            elif char == '"':
                self._in_string = True
            elif char in "{[":
                self._depth += 1
                self._started = True
            elif char in "}]":
                self._depth -= 1
                if self._started and self._depth == 0:
                    return index + 1
        return -1


class StreamTranslator:
    """Kiro events in, SSE bytes out; the protocol-specific rendering lives in the subclasses."""

    def __init__(
        self,
        model: str,
        input_tokens: int,
        tool_names: ToolNameMap,
        thinking: bool,
        context_window: int,
        *,
        stop_sequences: Iterable[str] = (),
        output_format: OutputFormat | None = None,
    ) -> None:
        self.model = model
        self.tool_names = tool_names
        self.context_window = context_window
        self.blocks: list[Block] = []
        self.failure: FailureKind | None = None
        #: what went wrong, for logs and the router (the usage trailer's `reason`): set with `failure`
        self.failure_reason = ""
        self._splitter = ThinkingSplitter() if thinking else None
        self._open: Block | None = None
        self._input_estimate = max(1, input_tokens)
        self._input_from_kiro: int | None = None
        self._output_from_kiro = 0
        self._counted: dict[int, tuple[int, int]] = {}  # block index -> (parts counted, tokens)
        self._credits = 0.0
        self._tool_count = 0
        self._forced_stop: StopReason | None = None
        self._finished = False
        self._json_end: JsonEnd | None = None
        self._stops = StopMatcher(stop_sequences)
        #: Kiro tool names the gateway runs itself (web search): their calls become server tool blocks
        self.server_tools: frozenset[str] = frozenset()
        self.web_search_requests = 0
        self.output_format = output_format
        self._fence = FenceStripper() if output_format is not None else None
        #: the check of the answer against `output_format`, made by `finish()` (None: nothing checked)
        self.verdict: Verdict | None = None

    # --- public API -------------------------------------------------------------------------
    @property
    def usage(self) -> Usage:
        output = max(self._output_from_kiro, self._count_output())
        return Usage(self._input_from_kiro or self._input_estimate, output, self._credits)

    def _count_output(self) -> int:
        """Tokens of everything produced so far, counted when asked (not per delta: it costs µs each)."""
        total = 0
        for index, block in enumerate(self.blocks):
            parts, tokens = self._counted.get(index, (0, 0))
            if parts != len(block.parts):
                tokens = count_text(block.text)
                self._counted[index] = (len(block.parts), tokens)
            total += tokens
        return total

    @property
    def has_truncated_tool_call(self) -> bool:
        """An open tool call whose input is not valid JSON: the app may continue and keep feeding."""
        block = self._open
        return block is not None and block.kind == "tool_use" and block.truncated

    def partial_tool_call(self) -> tuple[str, str, str] | None:
        """(tool_use_id, tool name as Kiro knows it, input so far) of the truncated tool call, if any."""
        block = self._open
        if block is None or not self.has_truncated_tool_call:
            return None
        return block.tool_use_id, block.kiro_name, block.text

    @property
    def stop_reason(self) -> StopReason:
        if self._forced_stop is not None:
            return self._forced_stop
        if any(b.kind == "tool_use" and b.truncated for b in self.blocks):
            return "max_tokens"
        if any(b.kind == "tool_use" for b in self.blocks):
            return "tool_use"
        return "end_turn"

    @property
    def stop_sequence(self) -> str | None:
        """The client stop sequence that ended the answer, if one did."""
        return self._stops.matched

    def feed(self, event: KiroEvent) -> bytes:
        if self._finished or self.failure is not None:
            return b""
        if self._stops.matched is not None and isinstance(
            event, TextDelta | ReasoningDelta | ToolUseStart | ToolUseInputDelta | ToolUseStop
        ):
            return b""  # the answer ended at a stop sequence; Kiro does not know and goes on
        if isinstance(event, TextDelta):
            return self._on_text(event.text)
        if isinstance(event, ToolUseInputDelta):
            return self._on_tool_fragment(event.fragment)
        if isinstance(event, ToolUseStart):
            return self._on_tool_start(event)
        if isinstance(event, ToolUseStop):
            return self._on_tool_stop()
        if isinstance(event, ReasoningDelta):
            return self._on_reasoning(event)
        if isinstance(event, Metering):
            self._credits += event.usage
        elif isinstance(event, ContextUsage):
            self._on_context_usage(event.percentage)
        elif isinstance(event, MessageMetadata) and event.token_usage is not None:
            usage = event.token_usage
            total_in = (
                usage.uncached_input_tokens + usage.cache_read_input_tokens + usage.cache_write_input_tokens
            )
            self._input_from_kiro = total_in or self._input_from_kiro
            self._output_from_kiro = max(self._output_from_kiro, usage.output_tokens)
        elif isinstance(event, StreamError):
            if event.error_type in _LENGTH_EXCEPTIONS:
                self._forced_stop = "max_tokens"
                return b""
            classified = classify_exception_frame(event.error_type, event.message)
            return self.error(classified.kind, event.message, reason=classified.message)
        return b""

    def end_round(self) -> bytes:
        """Close what is open before the gateway adds server tool results and asks Kiro again."""
        if self._finished or self.failure is not None:
            return b""
        return self._flush_splitter() + self._close_open()

    def add_server_result(self, tool_use_id: str, content: Any) -> bytes:
        """A `web_search_tool_result` block (complete at once) answering server call `tool_use_id`."""
        if self._finished or self.failure is not None:
            return b""
        out = self._close_open()
        out += self._start_block(Block("web_search_tool_result", client_id=tool_use_id, content=content))
        return out + self._close_open()

    def finish(self) -> bytes:
        """Close what is open and end the message (nothing after an error).

        With an output format, a text answer is checked first (`verdict`); one that cannot be used ends
        with an in-band error instead of the normal end (a collector renders nothing either way).
        """
        if self._finished or self.failure is not None:
            return b""
        out = self._flush_splitter()
        if self._open is not None and self._open.kind == "tool_use" and self._open.tool_input() is None:
            self._open.truncated = True
        if self._fence is not None:
            out += self._flush_text()
        if self.output_format is not None and self.stop_reason in ("end_turn", "stop_sequence"):
            self.verdict = check(self.output_format, self.answer_text)
            if self.verdict.fatal:  # before the block closes: SDK stream helpers parse it when it does
                self._finished = True
                return out + self._render_invalid_output(self.output_format, self.verdict)
        out += self._close_open()
        self._finished = True
        return out + self._render_finish()

    @property
    def answer_text(self) -> str:
        """The answer's text blocks joined (no thinking, no tool input)."""
        return "".join(block.text for block in self.blocks if block.kind == "text")

    def error(self, kind: FailureKind, message: str, *, reason: str = "") -> bytes:
        """An in-band error event; the stream ends here (no further events, no normal end).

        `message` is what the client reads; `reason` (default: the message) what logs and the router get.
        """
        if self._finished or self.failure is not None:
            return b""
        self.failure = kind
        self.failure_reason = reason or message
        return self._render_error(kind, message)

    # --- event handling ---------------------------------------------------------------------
    def _on_text(self, text: str) -> bytes:
        if self.has_truncated_tool_call:
            return self._continue_tool_with_text(text)
        if self._splitter is None:
            return self._text(text)
        return self._pieces(self._splitter.feed(text))

    def _pieces(self, pieces: list[Piece]) -> bytes:
        out = b""
        for kind, piece in pieces:
            if kind == "text":
                out += self._text(piece)
            elif kind == "thinking":
                out += self._thinking(piece)
            elif self._open is not None and self._open.kind == "thinking":
                out += self._close_open()
        return out

    def _flush_splitter(self) -> bytes:
        return self._pieces(self._splitter.finish()) if self._splitter is not None else b""

    def _text(self, text: str) -> bytes:
        if self._fence is not None:
            text = self._fence.feed(text)
        return self._stopped_text(text)

    def _stopped_text(self, text: str) -> bytes:
        if self._stops:
            text = self._stops.feed(text)
            if self._stops.matched is not None:
                self._forced_stop = "stop_sequence"
        return self._emit_text(text)

    def _emit_text(self, text: str) -> bytes:
        if not text:
            return b""
        out = b""
        if self._open is None or self._open.kind != "text":
            out += self._close_open()
            out += self._start_block(Block("text"))
        assert self._open is not None
        self._open.parts.append(text)
        return out + self._render_text(text)

    def _thinking(self, text: str) -> bytes:
        if not text:
            return b""
        out = b""
        if self._open is None or self._open.kind != "thinking":
            out += self._close_open()
            out += self._start_block(Block("thinking"))
        assert self._open is not None
        self._open.parts.append(text)
        return out + self._render_thinking(text)

    def _on_reasoning(self, event: ReasoningDelta) -> bytes:
        out = self._thinking(event.text)
        if event.signature and self._open is not None and self._open.kind == "thinking":
            self._open.signature = event.signature
        return out

    def _on_tool_start(self, event: ToolUseStart) -> bytes:
        if self.has_truncated_tool_call:
            return b""  # the continuation re-opens the call that was cut: its fragments extend it
        out = self._flush_splitter() + self._close_open()
        server = event.name in self.server_tools
        block = Block(
            "server_tool_use" if server else "tool_use",
            tool_use_id=event.tool_use_id,
            name=self.tool_names.to_client(event.name),
            kiro_name=event.name,
            client_id="srvtoolu_" + secrets.token_hex(12) if server else "",
        )
        block.tool_index = self._tool_count
        self._tool_count += 1
        return out + self._start_block(block)

    def _on_tool_fragment(self, fragment: str) -> bytes:
        block = self._open
        if block is None or block.kind not in ("tool_use", "server_tool_use") or not fragment:
            return b""
        block.parts.append(fragment)
        return self._render_tool_fragment(block, fragment)

    def _continue_tool_with_text(self, text: str) -> bytes:
        """A continuation may send the rest of a cut tool input as plain text: up to its end, it is input."""
        block = self._open
        assert block is not None and self._json_end is not None
        end = self._json_end.feed(text)
        fragment, rest = (text, "") if end < 0 else (text[:end], text[end:])
        out = self._on_tool_fragment(fragment)
        if end >= 0:
            out += self._on_tool_stop()
            if rest and not self.has_truncated_tool_call:
                out += self._on_text(rest)
        return out

    def _on_tool_stop(self) -> bytes:
        block = self._open
        if block is not None and block.kind == "server_tool_use":
            return self._close_open()  # never continued: a bad input is answered as invalid_tool_input
        if block is None or block.kind != "tool_use":
            return b""
        if block.tool_input() is None:
            block.truncated = True  # keep it open: a continuation may complete it
            self._json_end = JsonEnd(block.text)
            return b""
        block.truncated = False
        self._json_end = None
        return self._close_open()

    def _on_context_usage(self, percentage: float) -> None:
        self._input_from_kiro = max(1, round(percentage / 100 * self.context_window))
        if percentage >= 100:
            self._forced_stop = "model_context_window_exceeded"

    def _start_block(self, block: Block) -> bytes:
        self.blocks.append(block)
        self._open = block
        return self._render_open(block)

    def _flush_text(self) -> bytes:
        """The answer text ends here: emit what the fence stripper and the stop matcher held back."""
        out = b""
        if self._fence is not None:
            out += self._stopped_text(self._fence.flush())  # a closing fence is dropped
        block = self._open
        if block is not None and block.kind == "text" and self._stops:
            held = self._stops.flush()  # it cannot grow into a stop sequence any more
            if held:
                block.parts.append(held)
                out += self._render_text(held)
        return out

    def _close_open(self) -> bytes:
        out = self._flush_text() if self._open is not None and self._open.kind == "text" else b""
        block, self._open = self._open, None
        if block is None:
            return out
        if block.kind == "thinking" and not block.signature:
            block.signature = signature_for(block.text)
        return out + self._render_close(block)

    # --- rendering, per protocol ------------------------------------------------------------
    def _render_open(self, block: Block) -> bytes:
        raise NotImplementedError

    def _render_text(self, text: str) -> bytes:
        raise NotImplementedError

    def _render_thinking(self, text: str) -> bytes:
        raise NotImplementedError

    def _render_tool_fragment(self, block: Block, fragment: str) -> bytes:
        raise NotImplementedError

    def _render_close(self, block: Block) -> bytes:
        raise NotImplementedError

    def _render_finish(self) -> bytes:
        raise NotImplementedError

    def _render_error(self, kind: FailureKind, message: str) -> bytes:
        raise NotImplementedError

    def _render_invalid_output(self, fmt: OutputFormat, verdict: Verdict) -> bytes:
        raise NotImplementedError


class Collecting(StreamTranslator):
    """Renders nothing: a non-streaming reply is built by `result()` once the whole answer is in."""

    def _render_open(self, block: Block) -> bytes:
        return b""

    def _render_text(self, text: str) -> bytes:
        return b""

    def _render_thinking(self, text: str) -> bytes:
        return b""

    def _render_tool_fragment(self, block: Block, fragment: str) -> bytes:
        return b""

    def _render_close(self, block: Block) -> bytes:
        return b""

    def _render_finish(self) -> bytes:
        return b""

    def _render_error(self, kind: FailureKind, message: str) -> bytes:
        return b""

    def _render_invalid_output(self, fmt: OutputFormat, verdict: Verdict) -> bytes:
        return b""

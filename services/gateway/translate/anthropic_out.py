"""Kiro events -> Anthropic Messages SSE (client-compat.md §1.5) and the non-streaming message (§1.4)."""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from typing import Any

import orjson

from services.gateway.translate import structured
from services.gateway.translate.stream_core import Block, Collecting, StreamTranslator
from services.gateway.translate.tools import ToolNameMap
from shared.client_errors import Protocol, failure_payload
from shared.errors import FailureKind
from shared.kiro.events import KiroEvent

TRUNCATED_TOOL_NOTE = (
    "[The call to tool {name} was cut off because its input exceeded the output limit; "
    "retry with smaller pieces.]"
)


def _sse(event: str, data: dict[str, Any]) -> bytes:
    return b"event: " + event.encode() + b"\ndata: " + orjson.dumps(data) + b"\n\n"


def new_message_id() -> str:
    return "msg_" + secrets.token_urlsafe(18).replace("-", "A").replace("_", "B")


class AnthropicStream(StreamTranslator):
    """One streamed `/v1/messages` answer: `start()`, `feed(event)`…, `finish()` (or `error()`)."""

    def __init__(
        self,
        model: str,
        input_tokens: int,
        tool_names: ToolNameMap,
        thinking: bool,
        context_window: int,
        *,
        message_id: str | None = None,
        stop_sequences: Iterable[str] = (),
        output_format: structured.OutputFormat | None = None,
    ) -> None:
        super().__init__(
            model,
            input_tokens,
            tool_names,
            thinking,
            context_window,
            stop_sequences=stop_sequences,
            output_format=output_format,
        )
        self.message_id = message_id or new_message_id()

    def start(self) -> bytes:
        message: dict[str, Any] = {
            "id": self.message_id,
            "type": "message",
            "role": "assistant",
            "model": self.model,
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": {
                "input_tokens": self.usage.input_tokens,
                "cache_creation_input_tokens": 0,
                "cache_read_input_tokens": 0,
                "output_tokens": 1,
            },
        }
        return _sse("message_start", {"type": "message_start", "message": message})

    def ping(self) -> bytes:
        return b'event: ping\ndata: {"type":"ping"}\n\n'

    def result(self) -> dict[str, Any]:
        """The whole message as a non-streaming reply, after every event was fed and `finish()` called."""
        usage = self.usage
        return {
            "id": self.message_id,
            "type": "message",
            "role": "assistant",
            "model": self.model,
            "content": [c for b in self.blocks if (c := _content_block(b)) is not None],
            "stop_reason": self.stop_reason,
            "stop_sequence": self.stop_sequence,
            "usage": {
                "input_tokens": usage.input_tokens,
                "cache_creation_input_tokens": 0,
                "cache_read_input_tokens": 0,
                "output_tokens": usage.output_tokens,
                **self._server_tool_usage(),
            },
        }

    def _server_tool_usage(self) -> dict[str, Any]:
        """`usage.server_tool_use` once the gateway ran a web search for this answer."""
        if not self.web_search_requests:
            return {}
        return {"server_tool_use": {"web_search_requests": self.web_search_requests, "web_fetch_requests": 0}}

    def _index(self, block: Block) -> int:
        """Blocks open and close in order, so the one being rendered is always the last."""
        return len(self.blocks) - 1

    def _render_open(self, block: Block) -> bytes:
        index = len(self.blocks) - 1
        content: dict[str, Any]
        if block.kind == "text":
            content = {"type": "text", "text": ""}
        elif block.kind == "thinking":
            content = {"type": "thinking", "thinking": "", "signature": ""}
        elif block.kind == "server_tool_use":
            content = {"type": "server_tool_use", "id": block.client_id, "name": block.name, "input": {}}
        elif block.kind == "web_search_tool_result":
            content = {
                "type": "web_search_tool_result",
                "tool_use_id": block.client_id,
                "content": block.content,
            }
        else:
            content = {"type": "tool_use", "id": block.tool_use_id, "name": block.name, "input": {}}
        out = _sse(
            "content_block_start", {"type": "content_block_start", "index": index, "content_block": content}
        )
        if block.kind in ("tool_use", "server_tool_use"):  # the real API starts every input with ""
            out += self._delta(index, {"type": "input_json_delta", "partial_json": ""})
        return out

    def _render_text(self, text: str) -> bytes:
        return self._delta(len(self.blocks) - 1, {"type": "text_delta", "text": text})

    def _render_thinking(self, text: str) -> bytes:
        return self._delta(len(self.blocks) - 1, {"type": "thinking_delta", "thinking": text})

    def _render_tool_fragment(self, block: Block, fragment: str) -> bytes:
        return self._delta(self._index(block), {"type": "input_json_delta", "partial_json": fragment})

    def _render_close(self, block: Block) -> bytes:
        index = self._index(block)
        out = b""
        if block.kind == "thinking":
            out += self._delta(index, {"type": "signature_delta", "signature": block.signature})
        return out + _sse("content_block_stop", {"type": "content_block_stop", "index": index})

    def _render_finish(self) -> bytes:
        usage = self.usage
        usage_out: dict[str, Any] = {"output_tokens": usage.output_tokens, **self._server_tool_usage()}
        if self._input_from_kiro is not None:
            usage_out = {"input_tokens": usage.input_tokens, **usage_out}
        delta = {"stop_reason": self.stop_reason, "stop_sequence": self.stop_sequence}
        return _sse("message_delta", {"type": "message_delta", "delta": delta, "usage": usage_out}) + _sse(
            "message_stop", {"type": "message_stop"}
        )

    def _render_error(self, kind: FailureKind, message: str) -> bytes:
        return _sse("error", error_body(kind, message))

    def _render_invalid_output(self, fmt: structured.OutputFormat, verdict: structured.Verdict) -> bytes:
        message = structured.failure_message(fmt, verdict, attempts=1, streamed=True)
        body = structured.error_body(Protocol.ANTHROPIC, message, None)
        return _sse("error", body)

    @staticmethod
    def _delta(index: int, delta: dict[str, Any]) -> bytes:
        return _sse("content_block_delta", {"type": "content_block_delta", "index": index, "delta": delta})


class AnthropicCollector(Collecting, AnthropicStream):
    """`AnthropicStream` for a non-streaming reply: the same state and `result()`, no SSE rendered."""


def error_body(kind: FailureKind, message: str) -> dict[str, Any]:
    """`{"type":"error","error":{...}}` for a failure kind (HTTP body and in-stream event)."""
    return failure_payload(Protocol.ANTHROPIC, kind, message)


def _content_block(block: Block) -> dict[str, Any] | None:
    if block.kind == "text":
        return {"type": "text", "text": block.text}
    if block.kind == "thinking":
        return {"type": "thinking", "thinking": block.text, "signature": block.signature}
    if block.kind == "web_search_tool_result":
        return {"type": "web_search_tool_result", "tool_use_id": block.client_id, "content": block.content}
    if block.kind == "server_tool_use":
        input_ = block.tool_input() or {}
        return {"type": "server_tool_use", "id": block.client_id, "name": block.name, "input": input_}
    tool_input = block.tool_input()
    if tool_input is None:  # never pretend a cut-off call was `{}`
        return {"type": "text", "text": TRUNCATED_TOOL_NOTE.format(name=block.name)}
    return {"type": "tool_use", "id": block.tool_use_id, "name": block.name, "input": tool_input}


def collect_anthropic(
    events: Iterable[KiroEvent],
    *,
    model: str,
    input_tokens: int,
    tool_names: ToolNameMap,
    thinking: bool,
    context_window: int,
    stop_sequences: Iterable[str] = (),
) -> AnthropicStream:
    """Feed a whole answer; the translator's `result()` and `usage` are then final."""
    translator = AnthropicStream(
        model, input_tokens, tool_names, thinking, context_window, stop_sequences=stop_sequences
    )
    for event in events:
        translator.feed(event)
    translator.finish()
    return translator

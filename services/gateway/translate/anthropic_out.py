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
from shared.runtime_options import CLAUDE_THINKING_FORMAT, ClaudeThinkingFormat

TRUNCATED_TOOL_NOTE = (
    "[The call to tool {name} was cut off because its input exceeded the output limit; "
    "retry with smaller pieces.]"
)
#: `thinking_tags`: the thinking as Kiro wrote it, in the text block the answer then continues
THINKING_OPEN = "<thinking>"
THINKING_CLOSE = "</thinking>\n\n"


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
        thinking_format: ClaudeThinkingFormat = CLAUDE_THINKING_FORMAT,
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
        self.thinking_tags = thinking_format == "thinking_tags"
        #: index of the content block the client sees last opened (tags merge thinking and answer)
        self._client_index = -1
        #: a `thinking_tags` block left open after `</thinking>`, for the answer text to continue
        self._held = False

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
            "content": self._content(),
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

    def _content(self) -> list[dict[str, Any]]:
        content: list[dict[str, Any]] = []
        continues = False  # the previous block was thinking shown as tags: answer text joins it
        for block in self.blocks:
            if block.kind == "thinking" and self.thinking_tags:
                item: dict[str, Any] | None = {"type": "text", "text": _tagged(block.text)}
            else:
                item = _content_block(block)
            if item is None:
                continue
            if continues and item["type"] == "text":
                content[-1]["text"] += item["text"]
            else:
                content.append(item)
            continues = block.kind == "thinking" and self.thinking_tags
        return content

    def _server_tool_usage(self) -> dict[str, Any]:
        """`usage.server_tool_use` once the gateway ran a web search for this answer."""
        if not self.web_search_requests:
            return {}
        return {"server_tool_use": {"web_search_requests": self.web_search_requests, "web_fetch_requests": 0}}

    def _index(self, block: Block) -> int:
        """Blocks open and close in order, so the one being rendered is always the last opened."""
        return self._client_index

    def _release(self) -> bytes:
        """Close a held `thinking_tags` block: what follows the thinking is not answer text."""
        if not self._held:
            return b""
        self._held = False
        return _sse("content_block_stop", {"type": "content_block_stop", "index": self._client_index})

    def _render_open(self, block: Block) -> bytes:
        if block.kind == "text" and self._held:
            self._held = False  # the answer goes on in the block that shows the thinking
            return b""
        out = self._release()
        self._client_index += 1
        index = self._client_index
        content: dict[str, Any]
        if block.kind == "text" or (block.kind == "thinking" and self.thinking_tags):
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
        out += _sse(
            "content_block_start", {"type": "content_block_start", "index": index, "content_block": content}
        )
        if block.kind == "thinking" and self.thinking_tags:
            out += self._delta(index, {"type": "text_delta", "text": THINKING_OPEN})
        if block.kind in ("tool_use", "server_tool_use"):  # the real API starts every input with ""
            out += self._delta(index, {"type": "input_json_delta", "partial_json": ""})
        return out

    def _render_text(self, text: str) -> bytes:
        return self._delta(self._client_index, {"type": "text_delta", "text": text})

    def _render_thinking(self, text: str) -> bytes:
        if self.thinking_tags:
            return self._render_text(text)
        return self._delta(self._client_index, {"type": "thinking_delta", "thinking": text})

    def _render_tool_fragment(self, block: Block, fragment: str) -> bytes:
        return self._delta(self._index(block), {"type": "input_json_delta", "partial_json": fragment})

    def _render_close(self, block: Block) -> bytes:
        index = self._index(block)
        out = b""
        if block.kind == "thinking" and self.thinking_tags:
            self._held = True
            return self._delta(index, {"type": "text_delta", "text": THINKING_CLOSE})
        if block.kind == "thinking":
            out += self._delta(index, {"type": "signature_delta", "signature": block.signature})
        return out + _sse("content_block_stop", {"type": "content_block_stop", "index": index})

    def _render_finish(self) -> bytes:
        usage = self.usage
        usage_out: dict[str, Any] = {"output_tokens": usage.output_tokens, **self._server_tool_usage()}
        if self._input_from_kiro is not None:
            usage_out = {"input_tokens": usage.input_tokens, **usage_out}
        delta = {"stop_reason": self.stop_reason, "stop_sequence": self.stop_sequence}
        end = _sse("message_delta", {"type": "message_delta", "delta": delta, "usage": usage_out})
        return self._release() + end + _sse("message_stop", {"type": "message_stop"})

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


def _tagged(thinking: str) -> str:
    return THINKING_OPEN + thinking + THINKING_CLOSE


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
    thinking_format: ClaudeThinkingFormat = CLAUDE_THINKING_FORMAT,
) -> AnthropicStream:
    """Feed a whole answer; the translator's `result()` and `usage` are then final."""
    translator = AnthropicStream(
        model,
        input_tokens,
        tool_names,
        thinking,
        context_window,
        stop_sequences=stop_sequences,
        thinking_format=thinking_format,
    )
    for event in events:
        translator.feed(event)
    translator.finish()
    return translator

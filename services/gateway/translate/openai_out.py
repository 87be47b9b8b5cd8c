"""Kiro events -> OpenAI Chat Completions chunks (client-compat.md §2.3) and the non-streaming reply."""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterable
from typing import Any

import orjson

from services.gateway.translate import structured
from services.gateway.translate.stream_core import Block, Collecting, StopReason, StreamTranslator
from services.gateway.translate.tools import ToolNameMap
from shared.client_errors import Protocol, failure_payload
from shared.errors import FailureKind
from shared.kiro.events import KiroEvent
from shared.runtime_options import ThinkingFormat

FINISH_REASONS: dict[StopReason, str] = {
    "end_turn": "stop",
    "tool_use": "tool_calls",
    "max_tokens": "length",
    "stop_sequence": "stop",
    "model_context_window_exceeded": "length",
}
SYSTEM_FINGERPRINT = "fp_kiro"
THINK_OPEN = "<think>\n"
THINK_CLOSE = "\n</think>\n\n"


def new_completion_id() -> str:
    return "chatcmpl-" + secrets.token_hex(12)


def error_body(kind: FailureKind, message: str, param: str | None = None) -> dict[str, Any]:
    """`{"error": {message, type, param, code}}` for a failure kind (HTTP body and in-stream chunk)."""
    return failure_payload(Protocol.OPENAI, kind, message, param=param)


class OpenAIStream(StreamTranslator):
    """One streamed `/v1/chat/completions` answer: `start()`, `feed(event)`…, `finish()` (or `error()`)."""

    def __init__(  # noqa: PLR0917 - positional order is the gateway contract
        self,
        model: str,
        input_tokens: int,
        tool_names: ToolNameMap,
        thinking: bool,
        thinking_format: ThinkingFormat,
        include_usage: bool,
        context_window: int,
        *,
        completion_id: str | None = None,
        created: int | None = None,
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
        self.thinking_format = thinking_format
        self.include_usage = include_usage
        self.completion_id = completion_id or new_completion_id()
        self.created = created or int(time.time())
        head = {
            "id": self.completion_id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": model,
            "system_fingerprint": SYSTEM_FINGERPRINT,
        }
        # every chunk shares id/created/model: render that prefix once
        self._head = b"data: " + orjson.dumps(head)[:-1] + b',"choices":'
        self._tail = b',"usage":null}\n\n' if include_usage else b"}\n\n"
        self._role_sent = False

    def start(self) -> bytes:
        """Nothing yet: the role chunk waits for the first block, which decides its `content`."""
        return b""

    def _role(self, *, text: bool) -> bytes:
        """The first chunk, `delta.role` once (§2.3): `content: ""` opening a text answer, as OpenAI sends.

        Before a tool call (or reasoning) it is `content: null`, so the SDK accumulators leave a tool-only
        answer's content None, as for OpenAI's own.
        """
        if self._role_sent:
            return b""
        self._role_sent = True
        return self._chunk({"role": "assistant", "content": "" if text else None, "refusal": None})

    def ping(self) -> bytes:
        return b": ping\n\n"

    def result(self) -> dict[str, Any]:
        """The whole `chat.completion` as a non-streaming reply, after every event and `finish()`."""
        texts: list[str] = []
        reasoning: list[str] = []
        tool_calls: list[dict[str, Any]] = []
        for block in self.blocks:
            if block.kind == "text":
                texts.append(block.text)
            elif block.kind == "thinking":
                if self.thinking_format == "think_tags":
                    texts.append(THINK_OPEN + block.text + THINK_CLOSE)
                elif self.thinking_format == "reasoning_content":
                    reasoning.append(block.text)
            else:
                function = {"name": block.name, "arguments": block.text.strip() or "{}"}
                tool_calls.append({"id": block.tool_use_id, "type": "function", "function": function})
        message: dict[str, Any] = {"role": "assistant", "content": "".join(texts) or None, "refusal": None}
        if reasoning:
            message["reasoning_content"] = "".join(reasoning)
        if tool_calls:
            message["tool_calls"] = tool_calls
        usage = self.usage
        return {
            "id": self.completion_id,
            "object": "chat.completion",
            "created": self.created,
            "model": self.model,
            "system_fingerprint": SYSTEM_FINGERPRINT,
            "choices": [
                {"index": 0, "message": message, "logprobs": None, "finish_reason": self.finish_reason}
            ],
            "usage": _usage(usage.input_tokens, usage.output_tokens),
        }

    @property
    def finish_reason(self) -> str:
        return FINISH_REASONS[self.stop_reason]

    def _chunk(self, delta: dict[str, Any], finish_reason: str | None = None) -> bytes:
        choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}
        return self._head + b"[" + orjson.dumps(choice) + b"]" + self._tail

    def _render_open(self, block: Block) -> bytes:
        if block.kind == "tool_use":
            call = {
                "index": block.tool_index,
                "id": block.tool_use_id,
                "type": "function",
                "function": {"name": block.name, "arguments": ""},
            }
            return self._role(text=False) + self._chunk({"tool_calls": [call]})
        if block.kind == "text":
            return self._role(text=True)
        if self.thinking_format == "think_tags":
            return self._role(text=True) + self._chunk({"content": THINK_OPEN})
        if self.thinking_format == "reasoning_content":
            return self._role(text=False)
        return b""  # thinking not shown: the role waits for what is

    def _render_text(self, text: str) -> bytes:
        return self._chunk({"content": text})

    def _render_thinking(self, text: str) -> bytes:
        if self.thinking_format == "reasoning_content":
            return self._chunk({"reasoning_content": text})
        if self.thinking_format == "think_tags":
            return self._chunk({"content": text})
        return b""

    def _render_tool_fragment(self, block: Block, fragment: str) -> bytes:
        return self._chunk({"tool_calls": [{"index": block.tool_index, "function": {"arguments": fragment}}]})

    def _render_close(self, block: Block) -> bytes:
        if block.kind == "thinking" and self.thinking_format == "think_tags":
            return self._chunk({"content": THINK_CLOSE})
        return b""

    def _render_finish(self) -> bytes:
        out = self._role(text=True) + self._chunk({}, self.finish_reason)
        if self.include_usage:
            usage = self.usage
            out += (
                self._head
                + b"[],"
                + b'"usage":'
                + orjson.dumps(_usage(usage.input_tokens, usage.output_tokens))
            )
            out += b"}\n\n"
        return out + b"data: [DONE]\n\n"

    def _render_error(self, kind: FailureKind, message: str) -> bytes:
        return b"data: " + orjson.dumps(error_body(kind, message)) + b"\n\n"

    def _render_invalid_output(self, fmt: structured.OutputFormat, verdict: structured.Verdict) -> bytes:
        message = structured.failure_message(fmt, verdict, attempts=1, streamed=True)
        body = structured.error_body(Protocol.OPENAI, message, "response_format")
        return b"data: " + orjson.dumps(body) + b"\n\n"


class OpenAICollector(Collecting, OpenAIStream):
    """`OpenAIStream` for a non-streaming reply: the same state and `result()`, no SSE rendered."""


def _usage(prompt: int, completion: int) -> dict[str, int]:
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


def collect_openai(
    events: Iterable[KiroEvent],
    *,
    model: str,
    input_tokens: int,
    tool_names: ToolNameMap,
    thinking: bool,
    thinking_format: ThinkingFormat,
    context_window: int,
    stop_sequences: Iterable[str] = (),
) -> OpenAIStream:
    """Feed a whole answer; the translator's `result()` and `usage` are then final."""
    translator = OpenAIStream(
        model,
        input_tokens,
        tool_names,
        thinking,
        thinking_format,
        False,
        context_window,
        stop_sequences=stop_sequences,
    )
    for event in events:
        translator.feed(event)
    translator.finish()
    return translator

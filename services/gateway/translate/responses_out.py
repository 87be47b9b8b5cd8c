"""Kiro events -> OpenAI Responses stream events (`response.*`, each with `sequence_number`) and object.

One output item per answer block, in order: text -> `message` (one `output_text` part), thinking ->
`reasoning` (one `summary_text` part), a tool call -> `function_call`, `custom_tool_call` or
`local_shell_call` by the kind of tool the client declared. Text, reasoning and function arguments
stream as Kiro sends them; the input of a custom or shell call is decoded from Kiro's JSON, so it is
sent whole when the call ends.
"""

from __future__ import annotations

import base64
import secrets
import time
from collections.abc import Iterable, Mapping
from typing import Any

import orjson

from services.gateway.translate import structured
from services.gateway.translate.responses_in import ToolKind
from services.gateway.translate.stream_core import Block, Collecting, StreamTranslator
from services.gateway.translate.tokens import count_text
from services.gateway.translate.tools import ToolNameMap
from shared.errors import FailureKind

#: the `code` of a failed response's error, per failure kind (the Responses API has a closed list)
FAILED_CODES: dict[FailureKind, str] = {
    FailureKind.THROTTLED: "rate_limit_exceeded",
    FailureKind.QUOTA_EXHAUSTED: "rate_limit_exceeded",
    FailureKind.INVALID_REQUEST: "invalid_prompt",
}
#: prefix of the `encrypted_content` we hand out: our own encoding of the reasoning text, not OpenAI's
ENCRYPTED_PREFIX = "kiro-reasoning:"


def new_response_id() -> str:
    return "resp_" + secrets.token_hex(24)


def encode_reasoning(text: str) -> str:
    """An opaque `encrypted_content` carrying the reasoning text back to us (clients echo it as is)."""
    return ENCRYPTED_PREFIX + base64.b64encode(text.encode()).decode()


class ResponsesStream(StreamTranslator):
    """One streamed `/v1/responses` answer: `start()`, `feed(event)`…, `finish()` (or `error()`)."""

    def __init__(
        self,
        model: str,
        input_tokens: int,
        tool_names: ToolNameMap,
        thinking: bool,
        context_window: int,
        *,
        echo: Mapping[str, Any],
        tool_kinds: Mapping[str, ToolKind],
        tool_namespaces: Mapping[str, str] | None = None,
        encrypted_reasoning: bool = False,
        response_id: str | None = None,
        created_at: int | None = None,
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
        self.response_id = response_id or new_response_id()
        self.created_at = created_at or int(time.time())
        self.echo = dict(echo)
        self.tool_kinds = dict(tool_kinds)
        self.tool_namespaces = dict(tool_namespaces or {})
        self.encrypted_reasoning = encrypted_reasoning
        self._sequence = 0
        self._open_index = -1
        self._item_suffix = self.response_id[5:21]

    # --- public API -------------------------------------------------------------------------
    def start(self) -> bytes:
        snapshot = self._response("in_progress", [])
        return self._event("response.created", response=snapshot) + self._event(
            "response.in_progress", response=snapshot
        )

    def ping(self) -> bytes:
        return b": ping\n\n"

    @property
    def status(self) -> str:
        if self.failure is not None:
            return "failed"
        return (
            "incomplete"
            if self.stop_reason in ("max_tokens", "model_context_window_exceeded")
            else "completed"
        )

    def output_items(self) -> list[dict[str, Any]]:
        """Every output item as `response.output` lists it (after `finish()`)."""
        return [self._item(index, block, done=True) for index, block in enumerate(self.blocks)]

    def result(self) -> dict[str, Any]:
        """The whole Response object (non-streaming reply), after every event and `finish()`."""
        return self._response(self.status, self.output_items())

    # --- the Response object ----------------------------------------------------------------
    def _response(self, status: str, output: list[dict[str, Any]], error: Any = None) -> dict[str, Any]:
        done = status != "in_progress"
        incomplete = {"reason": "max_output_tokens"} if status == "incomplete" else None
        return {
            "id": self.response_id,
            "object": "response",
            "created_at": self.created_at,
            "status": status,
            "background": False,
            "completed_at": int(time.time()) if status == "completed" else None,
            "error": error,
            "incomplete_details": incomplete,
            "model": self.model,
            "output": output,
            "output_text": "".join(b.text for b in self.blocks if b.kind == "text") if done else "",
            "usage": self._usage() if done else None,
            **self.echo,
        }

    def _usage(self) -> dict[str, Any]:
        usage = self.usage
        reasoning = sum(count_text(b.text) for b in self.blocks if b.kind == "thinking")
        return {
            "input_tokens": usage.input_tokens,
            "input_tokens_details": {"cached_tokens": 0},
            "output_tokens": usage.output_tokens,
            "output_tokens_details": {"reasoning_tokens": min(reasoning, usage.output_tokens)},
            "total_tokens": usage.input_tokens + usage.output_tokens,
        }

    def _item_id(self, index: int, block: Block) -> str:
        prefix = {"text": "msg", "thinking": "rs", "tool_use": "fc"}[block.kind]
        return f"{prefix}_{self._item_suffix}{index:04d}"

    def _kind(self, block: Block) -> ToolKind:
        return self.tool_kinds.get(block.name, "function")

    def _item(self, index: int, block: Block, *, done: bool) -> dict[str, Any]:
        item_id = self._item_id(index, block)
        status = "completed" if done else "in_progress"
        if block.kind == "text":
            parts = [_text_part(block.text)] if done else []
            return {"id": item_id, "type": "message", "status": status, "role": "assistant", "content": parts}
        if block.kind == "thinking":
            item: dict[str, Any] = {
                "id": item_id,
                "type": "reasoning",
                "summary": [{"type": "summary_text", "text": block.text}] if done else [],
            }
            if done and self.encrypted_reasoning:
                item["encrypted_content"] = encode_reasoning(block.text)
            return item
        if done and block.truncated:
            status = "incomplete"
        kind = self._kind(block)
        if kind == "custom":
            return {
                "id": item_id,
                "type": "custom_tool_call",
                "status": status,
                "call_id": block.tool_use_id,
                "name": block.name,
                "input": _custom_input(block) if done else "",
            }
        if kind == "local_shell":
            return {
                "id": item_id,
                "type": "local_shell_call",
                "status": status,
                "call_id": block.tool_use_id,
                "action": _shell_action(block) if done else {"type": "exec", "command": [], "env": {}},
            }
        call: dict[str, Any] = {
            "id": item_id,
            "type": "function_call",
            "status": status,
            "call_id": block.tool_use_id,
            "name": block.name,
            "arguments": (block.text.strip() or "{}") if done else "",
        }
        if block.name in self.tool_namespaces:
            call["namespace"] = self.tool_namespaces[block.name]
        return call

    # --- events -----------------------------------------------------------------------------
    def _event(self, kind: str, **fields: Any) -> bytes:
        data = {"type": kind, "sequence_number": self._sequence, **fields}
        self._sequence += 1
        return b"event: " + kind.encode() + b"\ndata: " + orjson.dumps(data) + b"\n\n"

    def _render_open(self, block: Block) -> bytes:
        index = self._open_index = len(self.blocks) - 1
        item_id = self._item_id(index, block)
        out = self._event(
            "response.output_item.added", output_index=index, item=self._item(index, block, done=False)
        )
        if block.kind == "text":
            out += self._event(
                "response.content_part.added",
                item_id=item_id,
                output_index=index,
                content_index=0,
                part=_text_part(""),
            )
        elif block.kind == "thinking":
            out += self._event(
                "response.reasoning_summary_part.added",
                item_id=item_id,
                output_index=index,
                summary_index=0,
                part={"type": "summary_text", "text": ""},
            )
        return out

    def _render_text(self, text: str) -> bytes:
        index = self._open_index
        return self._event(
            "response.output_text.delta",
            item_id=self._item_id(index, self.blocks[index]),
            output_index=index,
            content_index=0,
            delta=text,
            logprobs=[],
        )

    def _render_thinking(self, text: str) -> bytes:
        index = self._open_index
        return self._event(
            "response.reasoning_summary_text.delta",
            item_id=self._item_id(index, self.blocks[index]),
            output_index=index,
            summary_index=0,
            delta=text,
        )

    def _render_tool_fragment(self, block: Block, fragment: str) -> bytes:
        if self._kind(block) != "function":
            return b""  # a custom or shell call's input is JSON-decoded at its end
        index = self._open_index
        return self._event(
            "response.function_call_arguments.delta",
            item_id=self._item_id(index, block),
            output_index=index,
            delta=fragment,
        )

    def _render_close(self, block: Block) -> bytes:
        index = self._open_index
        item_id = self._item_id(index, block)
        item = self._item(index, block, done=True)
        out = b""
        if block.kind == "text":
            out += self._event(
                "response.output_text.done",
                item_id=item_id,
                output_index=index,
                content_index=0,
                text=block.text,
                logprobs=[],
            )
            out += self._event(
                "response.content_part.done",
                item_id=item_id,
                output_index=index,
                content_index=0,
                part=_text_part(block.text),
            )
        elif block.kind == "thinking":
            part = {"type": "summary_text", "text": block.text}
            out += self._event(
                "response.reasoning_summary_text.done",
                item_id=item_id,
                output_index=index,
                summary_index=0,
                text=block.text,
            )
            out += self._event(
                "response.reasoning_summary_part.done",
                item_id=item_id,
                output_index=index,
                summary_index=0,
                part=part,
            )
        elif item["type"] == "function_call":
            out += self._event(
                "response.function_call_arguments.done",
                item_id=item_id,
                output_index=index,
                name=block.name,
                arguments=item["arguments"],
            )
        elif item["type"] == "custom_tool_call":
            out += self._event(
                "response.custom_tool_call_input.delta",
                item_id=item_id,
                output_index=index,
                delta=item["input"],
            )
            out += self._event(
                "response.custom_tool_call_input.done",
                item_id=item_id,
                output_index=index,
                input=item["input"],
            )
        return out + self._event("response.output_item.done", output_index=index, item=item)

    def _render_finish(self) -> bytes:
        # a cut answer ends with `response.completed` too, its status `incomplete`: OpenAI would send
        # `response.incomplete`, which the SDK stream helpers cannot finish on and Codex takes for a dropped
        # stream (and retries the turn, to be cut again)
        return self._event("response.completed", response=self.result())

    def _render_error(self, kind: FailureKind, message: str) -> bytes:
        return self._failed(FAILED_CODES.get(kind, "server_error"), message)

    def _render_invalid_output(self, fmt: structured.OutputFormat, verdict: structured.Verdict) -> bytes:
        message = structured.failure_message(fmt, verdict, attempts=1, streamed=True)
        return self._failed(structured.ERROR_CODE, message)

    def _failed(self, code: str, message: str) -> bytes:
        error = {"code": code, "message": message}
        return self._event("response.failed", response=self._response("failed", self.output_items(), error))


class ResponsesCollector(Collecting, ResponsesStream):
    """`ResponsesStream` for a non-streaming reply: the same state and `result()`, no events rendered."""


def _text_part(text: str) -> dict[str, Any]:
    return {"type": "output_text", "text": text, "annotations": [], "logprobs": []}


def _custom_input(block: Block) -> str:
    parsed = block.tool_input()
    if parsed is not None and isinstance(parsed.get("input"), str):
        return str(parsed["input"])
    return block.text


def _shell_action(block: Block) -> dict[str, Any]:
    parsed = block.tool_input() or {}
    command = parsed.get("command")
    if isinstance(command, str):
        command = ["bash", "-lc", command]
    return {
        "type": "exec",
        "command": [str(c) for c in command] if isinstance(command, list) else [],
        "env": parsed.get("env") if isinstance(parsed.get("env"), dict) else {},
        "working_directory": parsed.get("working_directory") or parsed.get("workdir"),
        "timeout_ms": parsed.get("timeout_ms") if isinstance(parsed.get("timeout_ms"), int) else None,
        "user": None,
    }

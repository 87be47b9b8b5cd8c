"""ChatRequest -> the Kiro `generateAssistantResponse` body (kiro-protocol.md §3, thinking tags §5)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import orjson

from services.gateway.translate.history import Turn, build_turns
from services.gateway.translate.ir import ChatRequest
from services.gateway.translate.tokens import count_tokens
from services.gateway.translate.tools import ToolNameMap, build_tool_specs, history_tool_spec
from shared.errors import InvalidRequestError

MAX_PAYLOAD_BYTES = 600_000
DEFAULT_THINKING_BUDGET = 16_000
MAX_THINKING_BUDGET = 200_000
_THINKING_MARKERS = ("<thinking_mode>", "<max_thinking_length>")
_SESSION_NAMESPACE = uuid.UUID("6b1f0c2e-9a4d-4e57-8f0a-3c2d1e0b9a87")


class ContextLengthError(InvalidRequestError):
    """The request is larger than Kiro takes; carries the numbers for "prompt is too long: N > M"."""

    def __init__(self, tokens: int, max_tokens: int, payload_bytes: int, max_bytes: int) -> None:
        super().__init__(f"prompt is too long: {tokens} tokens > {max_tokens} maximum", param="messages")
        self.tokens = tokens
        self.max_tokens = max_tokens
        self.payload_bytes = payload_bytes
        self.max_bytes = max_bytes


@dataclass(frozen=True, slots=True)
class KiroRequest:
    payload: dict[str, Any]
    tool_names: ToolNameMap
    payload_bytes: int
    #: `payload` serialized (what to POST), so nobody serializes it twice
    body: bytes


def thinking_enabled(req: ChatRequest, model_suffix: bool) -> bool:
    """Reasoning is on when the client asked in the body or with the model-name suffix."""
    return model_suffix or req.thinking is not None


def conversation_id_for(req: ChatRequest) -> str:
    """Stable per client session when the client names one (Claude Code), random otherwise."""
    if req.session_id:
        return str(uuid.uuid5(_SESSION_NAMESPACE, req.session_id))
    return str(uuid.uuid4())


def build_kiro_request(
    req: ChatRequest,
    *,
    model_id: str,
    origin: str = "AI_EDITOR",
    profile_arn: str | None = None,
    conversation_id: str | None = None,
    thinking: bool = False,
    max_payload_bytes: int = MAX_PAYLOAD_BYTES,
) -> KiroRequest:
    """The Kiro request body; raises ContextLengthError when it exceeds `max_payload_bytes`.

    `thinking` is the model-suffix flag; a `thinking` field in the request enables reasoning too.
    """
    names = ToolNameMap()
    tool_specs = build_tool_specs(req.tools, names)
    turns = build_turns(req.messages)
    specs = tool_specs.specs
    history_names = _declare_history_tools(turns, names, specs)
    if req.tool_choice.mode == "none" and not history_names:
        specs = []
    system = "\n\n".join([*req.system, *tool_specs.moved_docs])
    prefix = _thinking_prefix(req, system, turns) if thinking_enabled(req, thinking) else ""
    lead = "\n".join(text for text in (prefix, system) if text)

    kiro_messages = [_message(turn, model_id, origin, names) for turn in turns]
    first_user = kiro_messages[0]["userInputMessage"]
    if lead:
        first_user["content"] = f"{lead}\n\n{first_user['content']}"
    current = kiro_messages[-1]
    if specs:
        current["userInputMessage"].setdefault("userInputMessageContext", {})["tools"] = specs
        instruction = _tool_choice_instruction(req, names)
        if instruction:
            current["userInputMessage"]["content"] += f"\n\n{instruction}"
    state: dict[str, Any] = {
        "chatTriggerType": "MANUAL",
        "conversationId": conversation_id or conversation_id_for(req),
        "currentMessage": current,
    }
    if len(kiro_messages) > 1:
        state["history"] = kiro_messages[:-1]
    payload: dict[str, Any] = {"conversationState": state}
    if profile_arn:
        payload["profileArn"] = profile_arn
    body = orjson.dumps(payload)
    if len(body) > max_payload_bytes:
        tokens = count_tokens(req)
        limit = max(1, min(tokens - 1, tokens * max_payload_bytes // len(body)))
        raise ContextLengthError(tokens, limit, len(body), max_payload_bytes)
    return KiroRequest(payload=payload, tool_names=names, payload_bytes=len(body), body=body)


def _tool_choice_instruction(req: ChatRequest, names: ToolNameMap) -> str:
    """Kiro has no tool_choice: a forced tool becomes one plain sentence in the current message."""
    choice = req.tool_choice
    declared = names.declared(choice.name) if choice.mode == "tool" and choice.name else None
    if declared is not None:
        return f"(Answer by calling the tool {names.to_kiro(declared)}.)"
    if choice.mode == "any":
        return "(Answer by calling one of the available tools.)"
    return ""


def _thinking_prefix(req: ChatRequest, system: str, turns: list[Turn]) -> str:
    first_text = turns[0].content
    if any(marker in system or marker in first_text for marker in _THINKING_MARKERS):
        return ""  # the client injected the tags itself: never twice
    if req.thinking is not None and req.thinking.mode == "adaptive":
        effort = req.thinking.effort or "high"
        return f"<thinking_mode>adaptive</thinking_mode><thinking_effort>{effort}</thinking_effort>"
    budget = DEFAULT_THINKING_BUDGET
    if req.thinking is not None and req.thinking.budget_tokens:
        budget = min(req.thinking.budget_tokens, MAX_THINKING_BUDGET)
    return f"<thinking_mode>enabled</thinking_mode><max_thinking_length>{budget}</max_thinking_length>"


def _declare_history_tools(turns: list[Turn], names: ToolNameMap, specs: list[dict[str, Any]]) -> set[str]:
    """Kiro rejects history calls to undeclared tools: declare a placeholder for each (case-insensitive)."""
    used: set[str] = set()
    for turn in turns:
        for use in turn.tool_uses:
            declared = names.declared(use.name)
            if declared is not None:
                use.name = declared
            else:
                specs.append(history_tool_spec(names.add(use.name)))
            used.add(use.name)
    return used


def _message(turn: Turn, model_id: str, origin: str, names: ToolNameMap) -> dict[str, Any]:
    if turn.role == "assistant":
        assistant: dict[str, Any] = {"content": turn.content}
        if turn.tool_uses:
            assistant["toolUses"] = [
                {"toolUseId": u.id, "name": names.to_kiro(u.name), "input": u.input} for u in turn.tool_uses
            ]
        return {"assistantResponseMessage": assistant}
    user: dict[str, Any] = {"content": turn.content, "modelId": model_id, "origin": origin}
    if turn.images:
        user["images"] = [{"format": image.format, "source": {"bytes": image.data}} for image in turn.images]
    if turn.tool_results:
        user["userInputMessageContext"] = {
            "toolResults": [
                {
                    "toolUseId": r.tool_use_id,
                    "content": [{"text": r.text or "(no output)"}],
                    "status": "error" if r.is_error else "success",
                }
                for r in turn.tool_results
            ]
        }
    return {"userInputMessage": user}

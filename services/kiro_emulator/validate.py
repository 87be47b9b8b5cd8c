"""The generateAssistantResponse body rules Kiro enforces (kiro-protocol.md §3), as one strict check.

Everything raises `Malformed`; the handler answers 400 "Improperly formed request." for it. The reason
is logged (not sent: Kiro does not say what is wrong either).
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from typing import Any

from shared.errors import KiroStackError

MAX_TOOL_NAME = 64
MAX_TOOL_DESCRIPTION = 10_000
IMAGE_FORMATS = frozenset({"png", "jpeg", "gif", "webp"})
RESULT_STATUSES = frozenset({"success", "error"})
HISTORY_KEYS = frozenset({"userInputMessage", "assistantResponseMessage"})
# Keys whose values are the client's own JSON (tool schemas, tool arguments, JSON tool results).
_OPAQUE_KEYS = frozenset({"json", "input"})


class Malformed(KiroStackError):
    """The body breaks a Kiro rule; the message says which (for logs and tests)."""


@dataclass(frozen=True, slots=True)
class ChatRequest:
    """What the emulator needs from an accepted request."""

    conversation_id: str
    model_id: str
    content: str
    has_tools: bool
    #: the declared tool names, lower-case
    tool_names: frozenset[str] = frozenset()
    has_tool_results: bool = False


def _require(condition: bool, reason: str) -> None:
    if not condition:
        raise Malformed(reason)


def _nonblank(value: object) -> bool:
    return isinstance(value, str) and bool(value.strip())


def check_no_nulls(value: Any, path: str = "$") -> None:
    """Kiro rejects `null` values and empty arrays; clients must omit the field instead."""
    if isinstance(value, dict):
        for key, item in value.items():
            _require(item is not None, f"null at {path}.{key}")
            if key not in _OPAQUE_KEYS:
                check_no_nulls(item, f"{path}.{key}")
    elif isinstance(value, list):
        _require(bool(value), f"empty array at {path}")
        for i, item in enumerate(value):
            _require(item is not None, f"null at {path}[{i}]")
            check_no_nulls(item, f"{path}[{i}]")


def _check_images(images: Any, where: str) -> None:
    _require(isinstance(images, list), f"{where}.images not a list")
    for image in images:
        _require(isinstance(image, dict), f"{where}.images item not an object")
        _require(
            image.get("format") in IMAGE_FORMATS, f"{where}.images format not one of {sorted(IMAGE_FORMATS)}"
        )
        source = image.get("source")
        _require(isinstance(source, dict), f"{where}.images source missing")
        data = source.get("bytes")
        _require(_nonblank(data) and not data.startswith("data:"), f"{where}.images bytes not plain base64")
        try:
            base64.b64decode(data, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise Malformed(f"{where}.images bytes not base64") from exc


def _check_tools(tools: Any, where: str) -> set[str]:
    _require(isinstance(tools, list), f"{where}.tools not a list")
    names: set[str] = set()
    for tool in tools:
        spec: Any = tool.get("toolSpecification") if isinstance(tool, dict) else None
        _require(isinstance(spec, dict), f"{where}.tools item without toolSpecification")
        name = spec.get("name")
        _require(
            _nonblank(name) and len(name) <= MAX_TOOL_NAME, f"tool name empty or > {MAX_TOOL_NAME} chars"
        )
        description = spec.get("description")
        _require(
            _nonblank(description) and len(description) <= MAX_TOOL_DESCRIPTION,
            f"tool {name!r}: description empty or > {MAX_TOOL_DESCRIPTION} chars",
        )
        schema = spec.get("inputSchema")
        _require(
            isinstance(schema, dict) and isinstance(schema.get("json"), dict),
            f"tool {name!r}: inputSchema.json not an object",
        )
        _require(name not in names, f"duplicate tool name {name!r}")
        names.add(name)
    return {n.lower() for n in names}


def _check_results(results: Any, where: str) -> list[str]:
    _require(isinstance(results, list), f"{where}.toolResults not a list")
    ids: list[str] = []
    for result in results:
        _require(isinstance(result, dict), f"{where}.toolResults item not an object")
        tool_use_id = result.get("toolUseId")
        _require(_nonblank(tool_use_id), f"{where}.toolResults item without toolUseId")
        content = result.get("content")
        _require(isinstance(content, list), f"{where}.toolResults {tool_use_id}: content not a list")
        for block in content:
            _require(
                isinstance(block, dict) and len(block) == 1 and ("text" in block or "json" in block),
                f"{where}.toolResults {tool_use_id}: content block not {{text}} or {{json}}",
            )
            if "text" in block:
                _require(
                    isinstance(block["text"], str), f"{where}.toolResults {tool_use_id}: text not a string"
                )
        _require(result.get("status", "success") in RESULT_STATUSES, f"{where}.toolResults status invalid")
        _require(tool_use_id not in ids, f"duplicate toolResults id {tool_use_id}")
        ids.append(tool_use_id)
    return ids


@dataclass(slots=True)
class _UserTurn:
    result_ids: list[str]
    tool_names: set[str]


def _check_user(message: Any, where: str, *, current: bool, origins: frozenset[str]) -> _UserTurn:
    _require(isinstance(message, dict), f"{where} not an object")
    _require(_nonblank(message.get("content")), f"{where}.content empty")
    model_id = message.get("modelId")
    _require(model_id is None or _nonblank(model_id), f"{where}.modelId not a string")
    if current:
        _require(_nonblank(model_id), f"{where}.modelId missing")
        _require(message.get("origin") in origins, f"{where}.origin not one of {sorted(origins)}")
    elif "origin" in message:
        _require(isinstance(message["origin"], str), f"{where}.origin not a string")
    if "images" in message:
        _check_images(message["images"], where)
    context = message.get("userInputMessageContext", {})
    _require(isinstance(context, dict), f"{where}.userInputMessageContext not an object")
    _require(
        "userInputMessageContext" not in message or bool(context), f"{where}.userInputMessageContext empty"
    )
    names = _check_tools(context["tools"], where) if "tools" in context else set()
    ids = _check_results(context["toolResults"], where) if "toolResults" in context else []
    return _UserTurn(ids, names)


def _check_assistant(message: Any, where: str) -> list[tuple[str, str]]:
    _require(isinstance(message, dict), f"{where} not an object")
    _require(_nonblank(message.get("content")), f"{where}.content empty")
    uses = message.get("toolUses", [])
    _require(isinstance(uses, list), f"{where}.toolUses not a list")
    out: list[tuple[str, str]] = []
    for use in uses:
        _require(isinstance(use, dict), f"{where}.toolUses item not an object")
        _require(_nonblank(use.get("toolUseId")), f"{where}.toolUses item without toolUseId")
        _require(_nonblank(use.get("name")), f"{where}.toolUses item without name")
        _require(isinstance(use.get("input", {}), dict), f"{where}.toolUses input not an object")
        out.append((use["toolUseId"], use["name"]))
    return out


def validate_chat(body: Any, origins: frozenset[str]) -> ChatRequest:
    """Check a parsed request body; `origins` are the `origin` values the endpoint accepts."""
    _require(isinstance(body, dict), "body not an object")
    check_no_nulls(body)
    _require("profileArn" not in body or _nonblank(body["profileArn"]), "profileArn not a string")
    state = body.get("conversationState")
    _require(isinstance(state, dict), "conversationState missing")
    _require(state.get("chatTriggerType") == "MANUAL", "chatTriggerType not MANUAL")
    _require(_nonblank(state.get("conversationId")), "conversationId missing")
    current = state.get("currentMessage")
    _require(
        isinstance(current, dict) and set(current) == {"userInputMessage"},
        "currentMessage not exactly {userInputMessage}",
    )
    history = state.get("history", [])
    _require(isinstance(history, list), "history not a list")

    turns: list[tuple[str, Any]] = []
    for i, item in enumerate(history):
        _require(isinstance(item, dict) and len(item) == 1, f"history[{i}] must have exactly one key")
        (key,) = item
        _require(key in HISTORY_KEYS, f"history[{i}] key {key!r} unknown")
        turns.append((key, item[key]))
    turns.append(("userInputMessage", current["userInputMessage"]))
    _check_turns(turns, origins)

    message = current["userInputMessage"]
    context = message.get("userInputMessageContext", {})
    tools = context.get("tools") or []
    return ChatRequest(
        state["conversationId"],
        message["modelId"],
        message["content"],
        bool(tools),
        frozenset(t["toolSpecification"]["name"].lower() for t in tools),
        bool(context.get("toolResults")),
    )


def _check_turns(turns: list[tuple[str, Any]], origins: frozenset[str]) -> None:
    """Alternation from a user message, tool results paired with the preceding tool uses, names declared."""
    seen_use_ids: set[str] = set()
    history_tool_names: set[str] = set()
    previous_uses: list[tuple[str, str]] = []
    last = len(turns) - 1
    for i, (key, message) in enumerate(turns):
        where = "currentMessage" if i == last else f"history[{i}]"
        expected = "userInputMessage" if i % 2 == 0 else "assistantResponseMessage"
        _require(
            key == expected, f"{where}: expected {expected} (history must start with user and alternate)"
        )
        if key == "assistantResponseMessage":
            previous_uses = _check_assistant(message, where)
            for use_id, name in previous_uses:
                _require(use_id not in seen_use_ids, f"duplicate toolUseId {use_id}")
                seen_use_ids.add(use_id)
                history_tool_names.add(name.lower())
            continue
        user = _check_user(message, where, current=i == last, origins=origins)
        expected_ids = {use_id for use_id, _ in previous_uses}
        _require(
            set(user.result_ids) == expected_ids,
            f"{where}: toolResults {sorted(user.result_ids)} do not match the preceding toolUses "
            f"{sorted(expected_ids)}",
        )
        previous_uses = []
        if i == last:
            missing = history_tool_names - user.tool_names
            _require(not missing, f"history toolUses name(s) {sorted(missing)} not declared in tools")

"""OpenAI Responses request body (`POST /v1/responses`) -> ChatRequest, plus what the answer echoes back.

Input items (`message`, `function_call`, `function_call_output`, `custom_tool_call[_output]`,
`local_shell_call[_output]`, `reasoning`) become IR messages; the conversation so far (a stored
`previous_response_id` conversation, then this request's items) is kept as plain items so it can be
stored again with the answer. What would make the answer silently wrong (background mode, stored
prompts, conversations, item references, a tool_choice forcing a built-in tool, calls of built-in tools
in the input) is refused with a 400 naming the field. Built-in tools merely offered (Codex offers
`web_search` by default) are not declared to Kiro: the model answers without them, as with an OpenAI
model that chose not to use them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import orjson

from services.gateway.translate import structured
from services.gateway.translate._validate import (
    bad,
    opt_bool,
    opt_int,
    opt_str,
    want_list,
    want_object,
    want_str,
)
from services.gateway.translate.anthropic_in import EMPTY_SCHEMA
from services.gateway.translate.ir import (
    DEFAULT_MAX_TOKENS,
    MAX_OUTPUT_TOKENS,
    ChatRequest,
    ImagePart,
    Message,
    Part,
    TextPart,
    ThinkingPart,
    ThinkingRequest,
    Tool,
    ToolChoice,
    ToolResultPart,
    ToolUsePart,
)
from services.gateway.translate.openai_in import effort_thinking, image_part, tool_arguments

ToolKind = Literal["function", "custom", "local_shell"]

#: OpenAI's hosted tools: not offered to Kiro, and a 400 when tool_choice forces one
BUILT_IN_TOOLS = frozenset(
    {
        "web_search",
        "web_search_preview",
        "web_search_2025_08_26",
        "web_search_preview_2025_03_11",
        "file_search",
        "code_interpreter",
        "computer_use_preview",
        "computer_use",
        "image_generation",
        "mcp",
        "shell",
        "apply_patch",
        "tool_search",
    }
)
#: input items that only record what a hosted tool did: the answers after them carry what matters
TRACE_ITEMS = frozenset(
    {
        "web_search_call",
        "image_generation_call",
        "tool_search_call",
        "tool_search_output",
        "additional_tools",
        "compaction_trigger",
    }
)
_UNSUPPORTED_FIELDS = {
    "background": "background mode is not supported; send the request without it",
    "conversation": "the Conversations API is not supported; send the items, or use previous_response_id",
    "prompt": "stored prompt templates are not supported; send instructions and input",
}
#: the schema a custom (freeform) tool is declared to Kiro with: its input is one string
CUSTOM_TOOL_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"input": {"type": "string", "description": "the tool's whole input, as free text"}},
    "required": ["input"],
}
LOCAL_SHELL_TOOL = Tool(
    name="local_shell",
    description="Run a command on the user's machine; the output is returned as the tool result.",
    input_schema={
        "type": "object",
        "properties": {
            "command": {"type": "array", "items": {"type": "string"}, "description": "argv of the command"},
            "working_directory": {"type": "string"},
            "timeout_ms": {"type": "integer"},
        },
        "required": ["command"],
    },
)


@dataclass(slots=True)
class ResponsesRequest:
    """A parsed Responses request: the IR request and what the Response object echoes or needs."""

    chat: ChatRequest
    #: the conversation as input items: the stored one (previous_response_id) followed by this input
    items: list[dict[str, Any]]
    store: bool
    previous_response_id: str | None
    #: client tool name -> kind, for rendering calls as function_call / custom_tool_call / local_shell_call
    tool_kinds: dict[str, ToolKind] = field(default_factory=dict)
    #: client tool name -> the `namespace` tool it was offered in (its calls name the namespace back)
    tool_namespaces: dict[str, str] = field(default_factory=dict)
    #: `include` asked for `reasoning.encrypted_content`
    encrypted_reasoning: bool = False
    #: types of the offered tools Kiro does not get (built-in ones), for the log
    ignored_tools: list[str] = field(default_factory=list)
    #: fields the Response object echoes as sent (instructions, tools, tool_choice, metadata, …)
    echo: dict[str, Any] = field(default_factory=dict)


def previous_response_id(body: dict[str, Any]) -> str | None:
    """The `previous_response_id` of a body, checked (the store is asked before the rest is parsed)."""
    value = opt_str(body.get("previous_response_id"), "previous_response_id")
    return value or None


def parse_responses(body: dict[str, Any], prior: list[dict[str, Any]] | None = None) -> ResponsesRequest:
    """Parse a `/v1/responses` body; `prior` is the stored conversation `previous_response_id` names."""
    body = want_object(body, "body")
    for name, message in _UNSUPPORTED_FIELDS.items():
        if body.get(name) not in (None, False, ""):
            raise bad(name, message)
    if "model" not in body:
        raise bad("model", "field required")
    model = want_str(body["model"], "model")
    items = _input_items(body.get("input"))
    conversation = [*(prior or []), *items]
    system: list[str] = []
    instructions = opt_str(body.get("instructions"), "instructions")
    if instructions:
        system.append(instructions)
    messages = _messages(conversation, system)
    if not any(m.role == "user" for m in messages):
        raise bad("input", "at least one user message or tool output is required")
    tools, kinds, namespaces, ignored = _tools(body.get("tools"))
    output_format = _text_format(body.get("text"))
    max_tokens = opt_int(body.get("max_output_tokens"), "max_output_tokens")
    if max_tokens is not None and max_tokens < 1:
        raise bad("max_output_tokens", "must be at least 1")
    include = body.get("include")
    included = (
        [want_str(v, f"include[{i}]") for i, v in enumerate(want_list(include, "include"))] if include else []
    )
    chat = ChatRequest(
        protocol="openai",
        model=model,
        messages=messages,
        system=structured.with_instruction(system, output_format),
        tools=tools,
        tool_choice=_tool_choice(body.get("tool_choice")),
        max_tokens=min(max_tokens or DEFAULT_MAX_TOKENS, MAX_OUTPUT_TOKENS),
        stream=opt_bool(body.get("stream"), "stream"),
        thinking=_reasoning(body.get("reasoning")),
        output_format=output_format,
    )
    return ResponsesRequest(
        chat=chat,
        items=conversation,
        store=opt_bool(body.get("store"), "store", default=True),
        previous_response_id=previous_response_id(body),
        tool_kinds=kinds,
        tool_namespaces=namespaces,
        encrypted_reasoning="reasoning.encrypted_content" in included,
        ignored_tools=ignored,
        echo=_echo(body, instructions, max_tokens),
    )


def _echo(body: dict[str, Any], instructions: str | None, max_tokens: int | None) -> dict[str, Any]:
    tool_choice = body.get("tool_choice", "auto")
    reasoning = body["reasoning"] if isinstance(body.get("reasoning"), dict) else {}
    return {
        "instructions": instructions,
        "max_output_tokens": max_tokens,
        "metadata": body.get("metadata") if isinstance(body.get("metadata"), dict) else {},
        "parallel_tool_calls": body.get("parallel_tool_calls") is not False,
        "previous_response_id": body.get("previous_response_id") or None,
        "reasoning": {"effort": reasoning.get("effort"), "summary": reasoning.get("summary")},
        "store": body.get("store") is not False,
        "temperature": body.get("temperature") if isinstance(body.get("temperature"), int | float) else 1.0,
        "text": body.get("text") if isinstance(body.get("text"), dict) else {"format": {"type": "text"}},
        "tool_choice": tool_choice if isinstance(tool_choice, str | dict) else "auto",
        "tools": body.get("tools") if isinstance(body.get("tools"), list) else [],
        "top_p": body.get("top_p") if isinstance(body.get("top_p"), int | float) else 1.0,
        "truncation": body.get("truncation") if isinstance(body.get("truncation"), str) else "disabled",
        "user": body.get("user") if isinstance(body.get("user"), str) else None,
    }


def _input_items(value: object) -> list[dict[str, Any]]:
    """`input` as a list of items (a string is one user message)."""
    if value is None:
        raise bad("input", "field required")
    if isinstance(value, str):
        return [{"type": "message", "role": "user", "content": [{"type": "input_text", "text": value}]}]
    return [want_object(item, f"input[{i}]") for i, item in enumerate(want_list(value, "input"))]


def _messages(items: list[dict[str, Any]], system: list[str]) -> list[Message]:
    messages: list[Message] = []
    for i, item in enumerate(items):
        param = f"input[{i}]"
        kind = item.get("type", "message")
        if kind == "message":
            _message_item(item, param, system, messages)
        elif kind in ("function_call", "custom_tool_call", "local_shell_call"):
            _append(messages, "assistant", _call(item, kind, param))
        elif kind in ("function_call_output", "custom_tool_call_output", "local_shell_call_output"):
            _append(messages, "user", _call_output(item, param))
        elif kind == "reasoning":
            _append(messages, "assistant", _reasoning_item(item))
        elif kind in TRACE_ITEMS:
            continue
        elif kind == "item_reference":
            raise bad(f"{param}.type", "item references are not supported; send the item itself")
        elif not isinstance(kind, str):
            raise bad(f"{param}.type", "expected a string")
        else:
            raise bad(f"{param}.type", f"input items of type {kind!r} are not supported (no such tool here)")
    return messages


def _append(messages: list[Message], role: Literal["user", "assistant"], part: Part) -> None:
    if messages and messages[-1].role == role:
        messages[-1].parts.append(part)
    else:
        messages.append(Message(role, [part]))


def _message_item(item: dict[str, Any], param: str, system: list[str], messages: list[Message]) -> None:
    role = item.get("role")
    parts = _content(item.get("content"), f"{param}.content")
    if role in ("system", "developer"):
        text = "\n".join(p.text for p in parts if isinstance(p, TextPart))
        if text:
            system.append(text)
    elif role in ("user", "assistant"):
        if role == "assistant":
            parts = [p for p in parts if isinstance(p, TextPart)]
        for part in parts:
            _append(messages, role, part)
        if not parts and role == "user":
            messages.append(Message("user", []))
    else:
        raise bad(f"{param}.role", f"expected 'user', 'assistant', 'system' or 'developer', got {role!r}")


def _content(content: object, param: str) -> list[Part]:
    if content is None:
        return []
    if isinstance(content, str):
        return [TextPart(content)] if content else []
    parts: list[Part] = []
    for j, raw in enumerate(want_list(content, param)):
        part = want_object(raw, f"{param}[{j}]")
        kind = part.get("type")
        if kind in ("input_text", "output_text", "text", "summary_text", "reasoning_text"):
            text = want_str(part.get("text", ""), f"{param}[{j}].text")
            if text:
                parts.append(TextPart(text))
        elif kind == "refusal":
            parts.append(TextPart(want_str(part.get("refusal", ""), f"{param}[{j}].refusal")))
        elif kind == "input_image":
            parts.append(_image(part, f"{param}[{j}]"))
        elif kind == "input_file":
            raise bad(f"{param}[{j}].type", "file inputs are not supported; send the text or images")
        elif not isinstance(kind, str):
            raise bad(f"{param}[{j}].type", "field required")
        else:
            raise bad(f"{param}[{j}].type", f"content of type {kind!r} is not supported")
    return parts


def _image(part: dict[str, Any], param: str) -> Part:
    if part.get("file_id") and not part.get("image_url"):
        raise bad(f"{param}.file_id", "uploaded files are not supported; send the image as a data URL")
    return image_part(want_str(part.get("image_url"), f"{param}.image_url"), f"{param}.image_url")


def _call(item: dict[str, Any], kind: str, param: str) -> ToolUsePart:
    call_id = want_str(item.get("call_id") or item.get("id"), f"{param}.call_id")
    if kind == "function_call":
        name = want_str(item.get("name"), f"{param}.name")
        return ToolUsePart(call_id, name, tool_arguments(item.get("arguments"), f"{param}.arguments"))
    if kind == "custom_tool_call":
        name = want_str(item.get("name"), f"{param}.name")
        return ToolUsePart(call_id, name, {"input": want_str(item.get("input", ""), f"{param}.input")})
    action = want_object(item.get("action"), f"{param}.action")
    shell_input = {k: v for k, v in action.items() if k != "type" and v is not None}
    return ToolUsePart(call_id, LOCAL_SHELL_TOOL.name, shell_input)


def _call_output(item: dict[str, Any], param: str) -> ToolResultPart:
    call_id = want_str(item.get("call_id") or item.get("id"), f"{param}.call_id")
    output = item.get("output")
    if isinstance(output, str) or output is None:
        return ToolResultPart(call_id, output or "")
    parts = _content(output, f"{param}.output")
    return ToolResultPart(
        call_id,
        "\n".join(p.text for p in parts if isinstance(p, TextPart)),
        images=[p for p in parts if isinstance(p, ImagePart)],
    )


def _reasoning_item(item: dict[str, Any]) -> ThinkingPart:
    """Earlier reasoning, kept for the record (the Kiro request builder does not replay thinking)."""
    summary = item.get("summary")
    texts = [s.get("text", "") for s in summary if isinstance(s, dict)] if isinstance(summary, list) else []
    return ThinkingPart("\n".join(t for t in texts if isinstance(t, str)))


def _tools(value: object) -> tuple[list[Tool], dict[str, ToolKind], dict[str, str], list[str]]:
    """Kiro tools from `tools`: functions, custom and shell tools, and those grouped in a namespace."""
    tools: list[Tool] = []
    kinds: dict[str, ToolKind] = {}
    namespaces: dict[str, str] = {}
    ignored: list[str] = []
    if value is None:
        return tools, kinds, namespaces, ignored
    for i, raw in enumerate(want_list(value, "tools")):
        param = f"tools[{i}]"
        tool = want_object(raw, param)
        kind = tool.get("type", "function")
        if kind == "namespace":
            # Kiro has no namespaces: the tools inside are offered by their own names (Codex's sub-agent
            # tools arrive this way), and a call to one names its namespace again
            space = want_str(tool.get("name"), f"{param}.name")
            for j, inner in enumerate(want_list(tool.get("tools"), f"{param}.tools")):
                found = _tool(want_object(inner, f"{param}.tools[{j}]"), f"{param}.tools[{j}]", kinds)
                if found is not None:
                    tools.append(found)
                    namespaces[found.name] = space
        elif isinstance(kind, str):
            found = _tool(tool, param, kinds)
            if found is not None:
                tools.append(found)
            else:
                ignored.append(kind)  # a hosted tool (or one newer than this code): nothing Kiro can run
        else:
            raise bad(f"{param}.type", "expected a string")
    return tools, kinds, namespaces, ignored


def _tool(tool: dict[str, Any], param: str, kinds: dict[str, ToolKind]) -> Tool | None:
    """One function, custom or shell tool (its kind noted in `kinds`); None for any other type."""
    kind = tool.get("type", "function")
    if kind == "function":
        name = want_str(tool.get("name"), f"{param}.name")
        schema = tool.get("parameters")
        kinds[name] = "function"
        return Tool(
            name=name,
            description=opt_str(tool.get("description"), f"{param}.description") or "",
            input_schema=want_object(schema, f"{param}.parameters") if schema is not None else EMPTY_SCHEMA,
        )
    if kind == "custom":
        name = want_str(tool.get("name"), f"{param}.name")
        kinds[name] = "custom"
        return Tool(name, _custom_description(tool, param), CUSTOM_TOOL_SCHEMA)
    if kind == "local_shell":
        kinds[LOCAL_SHELL_TOOL.name] = "local_shell"
        return LOCAL_SHELL_TOOL
    return None


def _custom_description(tool: dict[str, Any], param: str) -> str:
    """A freeform tool's description, with its grammar spelled out (Kiro has no constrained decoding)."""
    text = opt_str(tool.get("description"), f"{param}.description") or ""
    fmt = tool.get("format")
    if isinstance(fmt, dict) and fmt.get("type") == "grammar" and isinstance(fmt.get("definition"), str):
        syntax = fmt.get("syntax", "grammar")
        text += f"\n\nThe input must follow this {syntax} grammar:\n{fmt['definition']}"
    return text.strip() or "A tool taking free-form text input."


def _tool_choice(value: object) -> ToolChoice:
    if value is None or value == "auto":
        return ToolChoice()
    if value == "none":
        return ToolChoice("none")
    if value == "required":
        return ToolChoice("any")
    if isinstance(value, dict):
        kind = value.get("type")
        if kind in ("function", "custom") and isinstance(value.get("name"), str):
            return ToolChoice("tool", value["name"])
        if kind == "allowed_tools":
            return ToolChoice("any") if value.get("mode") == "required" else ToolChoice()
        if kind == "local_shell":
            return ToolChoice("tool", LOCAL_SHELL_TOOL.name)
        if kind in BUILT_IN_TOOLS:
            raise bad(
                "tool_choice", f"tool_choice forces the built-in tool {kind!r}, which is not available here"
            )
        raise bad("tool_choice", f"unsupported tool_choice {orjson.dumps(value).decode()[:200]}")
    raise bad("tool_choice", f"expected 'auto', 'none', 'required' or a tool, got {value!r}")


def _reasoning(value: object) -> ThinkingRequest | None:
    if value is None:
        return None
    effort = opt_str(want_object(value, "reasoning").get("effort"), "reasoning.effort")
    return effort_thinking(effort, "reasoning.effort")


def _text_format(value: object) -> structured.OutputFormat | None:
    """Structured output asked in `text.format`: asked for in the system prompt, then checked."""
    if value is None:
        return None
    return structured.from_responses(want_object(value, "text").get("format"))

"""OpenAI Chat Completions request body -> ChatRequest (client-compat.md §2.1)."""

from __future__ import annotations

from typing import Any

import orjson

from services.gateway.translate import structured
from services.gateway.translate._validate import (
    bad,
    check_image,
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
    ImageUrlPart,
    Message,
    Part,
    TextPart,
    ThinkingRequest,
    Tool,
    ToolChoice,
    ToolResultPart,
    ToolUsePart,
)

#: reasoning_effort -> thinking budget in tokens ("none"/"minimal" leave thinking off)
EFFORT_BUDGETS = {"low": 4_000, "medium": 10_000, "high": 16_000, "xhigh": 32_000}


def parse_openai(body: object) -> ChatRequest:
    """Parse a `/v1/chat/completions` body."""
    body = want_object(body, "body")
    if "messages" not in body:
        if "input" in body:
            raise bad(
                "input",
                "this is the Chat Completions endpoint: send 'messages'; the Responses API 'input' field"
                " is not supported",
            )
        raise bad("messages", "field required")
    if "model" not in body:
        raise bad("model", "field required")
    model = want_str(body["model"], "model")
    system: list[str] = []
    messages: list[Message] = []
    legacy_call_ids: list[str] = []
    for i, raw in enumerate(want_list(body["messages"], "messages")):
        _message(want_object(raw, f"messages[{i}]"), f"messages[{i}]", system, messages, legacy_call_ids)
    if not messages:
        raise bad("messages", "at least one user message is required")
    max_tokens = opt_int(body.get("max_completion_tokens"), "max_completion_tokens")
    if max_tokens is None:
        max_tokens = opt_int(body.get("max_tokens"), "max_tokens")
    if max_tokens is not None and max_tokens < 1:
        raise bad("max_tokens", "must be at least 1")
    stream_options = body.get("stream_options")
    include_usage = False
    if stream_options is not None:
        include_usage = opt_bool(
            want_object(stream_options, "stream_options").get("include_usage"), "stream_options.include_usage"
        )
    output_format = structured.from_openai(body.get("response_format"))
    return ChatRequest(
        protocol="openai",
        model=model,
        messages=messages,
        system=structured.with_instruction(system, output_format),
        tools=_tools(body.get("tools"), body.get("functions")),
        tool_choice=_tool_choice(body.get("tool_choice", body.get("function_call"))),
        max_tokens=min(max_tokens or DEFAULT_MAX_TOKENS, MAX_OUTPUT_TOKENS),
        stream=opt_bool(body.get("stream"), "stream"),
        thinking=_thinking(body.get("reasoning_effort")),
        stop_sequences=_stop(body.get("stop")),
        include_usage=include_usage,
        session_id=None,
        output_format=output_format,
    )


def _message(
    msg: dict[str, Any], param: str, system: list[str], messages: list[Message], legacy_call_ids: list[str]
) -> None:
    role = msg.get("role")
    content = msg.get("content")
    if role in ("system", "developer"):
        text = "\n".join(p.text for p in _parts(content, f"{param}.content") if isinstance(p, TextPart))
        if text:
            system.append(text)
    elif role == "user":
        messages.append(Message("user", _parts(content, f"{param}.content")))
    elif role == "assistant":
        texts: list[Part] = [p for p in _parts(content, f"{param}.content") if isinstance(p, TextPart)]
        messages.append(Message("assistant", [*texts, *_tool_calls(msg, param, legacy_call_ids)]))
    elif role in ("tool", "function"):
        if role == "tool":
            call_id = want_str(msg.get("tool_call_id"), f"{param}.tool_call_id")
        else:
            call_id = legacy_call_ids[-1] if legacy_call_ids else f"call_{msg.get('name', 'function')}"
        parts = _parts(content, f"{param}.content")
        result = ToolResultPart(
            tool_use_id=call_id,
            text="\n".join(p.text for p in parts if isinstance(p, TextPart)),
            images=[p for p in parts if isinstance(p, ImagePart)],
            image_urls=[p for p in parts if isinstance(p, ImageUrlPart)],
        )
        if (
            messages
            and messages[-1].role == "user"
            and all(isinstance(p, ToolResultPart) for p in messages[-1].parts)
        ):
            messages[-1].parts.append(result)
        else:
            messages.append(Message("user", [result]))
    else:
        raise bad(
            f"{param}.role",
            f"expected 'system', 'developer', 'user', 'assistant' or 'tool', got {role!r}",
        )


def _parts(content: object, param: str) -> list[Part]:
    if content is None:
        return []
    if isinstance(content, str):
        return [TextPart(content)] if content else []
    parts: list[Part] = []
    for j, raw in enumerate(want_list(content, param)):
        part = want_object(raw, f"{param}[{j}]")
        kind = part.get("type")
        if kind in ("text", "input_text", "output_text"):
            parts.append(TextPart(want_str(part.get("text", ""), f"{param}[{j}].text")))
        elif kind == "image_url":
            parts.append(_image_url(part.get("image_url"), f"{param}[{j}].image_url"))
        elif kind == "refusal":
            parts.append(TextPart(want_str(part.get("refusal", ""), f"{param}[{j}].refusal")))
        elif not isinstance(kind, str):
            raise bad(f"{param}[{j}].type", "field required")
        # input_audio, file, ...: nothing Kiro can take; dropped
    return parts


def _image_url(value: object, param: str) -> Part:
    url = want_str(value.get("url") if isinstance(value, dict) else value, f"{param}.url")
    return image_part(url, f"{param}.url")


def image_part(url: str, param: str) -> Part:
    """An image given as a URL (OpenAI's Chat and Responses APIs): inline when a data URL, else fetched."""
    if url.startswith("data:"):
        header, sep, data = url[5:].partition(",")
        media_type, _, encoding = header.partition(";")
        if not sep or encoding != "base64":
            raise bad(param, "data URL must be base64: data:image/png;base64,...")
        check_image(media_type, data, param)
        return ImagePart(media_type.lower(), data)
    return ImageUrlPart(url, param)  # fetched by the gateway before the Kiro call (no I/O here)


def _tool_calls(msg: dict[str, Any], param: str, legacy_call_ids: list[str]) -> list[Part]:
    calls: list[Part] = []
    raw_calls = msg.get("tool_calls")
    for k, raw in enumerate(want_list(raw_calls, f"{param}.tool_calls") if raw_calls is not None else []):
        call = want_object(raw, f"{param}.tool_calls[{k}]")
        function = want_object(call.get("function"), f"{param}.tool_calls[{k}].function")
        calls.append(
            ToolUsePart(
                id=want_str(call.get("id"), f"{param}.tool_calls[{k}].id"),
                name=want_str(function.get("name"), f"{param}.tool_calls[{k}].function.name"),
                input=tool_arguments(
                    function.get("arguments"), f"{param}.tool_calls[{k}].function.arguments"
                ),
            )
        )
    legacy = msg.get("function_call")
    if legacy is not None:
        function = want_object(legacy, f"{param}.function_call")
        name = want_str(function.get("name"), f"{param}.function_call.name")
        call_id = f"call_legacy_{len(legacy_call_ids)}"
        legacy_call_ids.append(call_id)
        calls.append(
            ToolUsePart(call_id, name, tool_arguments(function.get("arguments"), f"{param}.function_call"))
        )
    return calls


def tool_arguments(value: object, param: str) -> dict[str, Any]:
    """Arguments are a JSON string; Kiro wants an object. Keep what cannot be parsed rather than lose it."""
    if value is None or value == "":
        return {}
    if isinstance(value, dict):
        return value
    text = want_str(value, param)
    try:
        parsed = orjson.loads(text)
    except orjson.JSONDecodeError:
        return {"raw_arguments": text}
    return parsed if isinstance(parsed, dict) else {"value": parsed}


def _tools(tools: object, functions: object) -> list[Tool]:
    specs: list[tuple[dict[str, Any], str]] = []
    if tools is not None:
        for i, raw in enumerate(want_list(tools, "tools")):
            tool = want_object(raw, f"tools[{i}]")
            if tool.get("type", "function") != "function":
                continue  # custom / hosted tools have no Kiro counterpart
            specs.append((want_object(tool.get("function"), f"tools[{i}].function"), f"tools[{i}].function"))
    if functions is not None:
        for i, raw in enumerate(want_list(functions, "functions")):
            specs.append((want_object(raw, f"functions[{i}]"), f"functions[{i}]"))
    result = []
    for spec, param in specs:
        schema = spec.get("parameters")
        result.append(
            Tool(
                name=want_str(spec.get("name"), f"{param}.name"),
                description=opt_str(spec.get("description"), f"{param}.description") or "",
                input_schema=want_object(schema, f"{param}.parameters")
                if schema is not None
                else EMPTY_SCHEMA,
            )
        )
    return result


def _tool_choice(value: object) -> ToolChoice:
    if value is None or value == "auto":
        return ToolChoice()
    if value == "none":
        return ToolChoice("none")
    if value == "required":
        return ToolChoice("any")
    if isinstance(value, dict):
        function = value.get("function", value)
        if isinstance(function, dict) and isinstance(function.get("name"), str):
            return ToolChoice("tool", function["name"])
        raise bad("tool_choice.function.name", "field required")
    raise bad("tool_choice", f"expected 'auto', 'none', 'required' or a function, got {value!r}")


def _thinking(value: object) -> ThinkingRequest | None:
    return effort_thinking(opt_str(value, "reasoning_effort"), "reasoning_effort")


def effort_thinking(effort: str | None, param: str) -> ThinkingRequest | None:
    """An OpenAI reasoning effort (Chat's `reasoning_effort`, Responses' `reasoning.effort`) as thinking."""
    if effort is None or effort in ("none", "minimal"):
        return None
    if effort not in EFFORT_BUDGETS:
        raise bad(param, f"expected one of none, minimal, {', '.join(EFFORT_BUDGETS)}")
    return ThinkingRequest("enabled", budget_tokens=EFFORT_BUDGETS[effort], effort=effort)


def _stop(value: object) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    return [want_str(s, f"stop[{i}]") for i, s in enumerate(want_list(value, "stop"))]

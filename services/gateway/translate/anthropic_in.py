"""Anthropic Messages request body -> ChatRequest (client-compat.md §1.2-§1.3)."""

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
from services.gateway.translate.ir import (
    DEFAULT_MAX_TOKENS,
    MAX_OUTPUT_TOKENS,
    ChatRequest,
    ImagePart,
    ImageUrlPart,
    Message,
    Part,
    TextPart,
    ThinkingPart,
    ThinkingRequest,
    Tool,
    ToolChoice,
    ToolResultPart,
    ToolUsePart,
    WebSearchSpec,
)

EMPTY_SCHEMA: dict[str, Any] = {"type": "object", "properties": {}}


def parse_anthropic(body: object, *, session_id: str | None = None) -> ChatRequest:
    """Parse a `/v1/messages` (or count_tokens) body; `session_id` is the X-Claude-Code-Session-Id header."""
    body = want_object(body, "body")
    if "messages" not in body:
        raise bad("messages", "field required")
    if "model" not in body:
        raise bad("model", "field required")
    model = want_str(body["model"], "model")
    system = _system(body.get("system"))
    messages: list[Message] = []
    for i, raw in enumerate(want_list(body["messages"], "messages")):
        param = f"messages[{i}]"
        msg = want_object(raw, param)
        role = msg.get("role")
        if role == "system":
            system.extend(_system(msg.get("content"), f"{param}.content"))
            continue
        if role not in ("user", "assistant"):
            raise bad(f"{param}.role", f"expected 'user', 'assistant' or 'system', got {role!r}")
        messages.append(Message(role, _content(msg.get("content"), f"{param}.content")))
    if not messages:
        raise bad("messages", "at least one user message is required")
    max_tokens = opt_int(body.get("max_tokens"), "max_tokens")
    if max_tokens is not None and max_tokens < 1:
        raise bad("max_tokens", "must be at least 1")
    output_format = structured.from_anthropic(body.get("output_format"), body.get("output_config"))
    return ChatRequest(
        protocol="anthropic",
        model=model,
        messages=messages,
        system=structured.with_instruction(system, output_format),
        tools=_tools(body.get("tools")),
        web_search=_web_search(body.get("tools")),
        tool_choice=_tool_choice(body.get("tool_choice")),
        max_tokens=min(max_tokens or DEFAULT_MAX_TOKENS, MAX_OUTPUT_TOKENS),
        stream=opt_bool(body.get("stream"), "stream"),
        thinking=_thinking(body.get("thinking"), body.get("output_config")),
        stop_sequences=_stop_sequences(body.get("stop_sequences")),
        session_id=session_id or _session_from_metadata(body.get("metadata")),
        output_format=output_format,
    )


def _system(value: object, param: str = "system") -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [value] if value else []
    texts = []
    for i, raw in enumerate(want_list(value, param)):
        block = want_object(raw, f"{param}[{i}]")
        if block.get("type", "text") != "text":
            continue
        text = want_str(block.get("text", ""), f"{param}[{i}].text")
        if text:
            texts.append(text)
    return texts


def _content(value: object, param: str) -> list[Part]:
    if isinstance(value, str):
        return [TextPart(value)] if value else []
    if value is None:
        return []
    parts: list[Part] = []
    for j, raw in enumerate(want_list(value, param)):
        part = _block(want_object(raw, f"{param}[{j}]"), f"{param}[{j}]")
        if part is not None:
            parts.append(part)
    return parts


def _block(block: dict[str, Any], param: str) -> Part | None:
    kind = block.get("type")
    if not isinstance(kind, str):
        raise bad(f"{param}.type", "field required")
    if kind == "text":
        return TextPart(want_str(block.get("text", ""), f"{param}.text"))
    if kind == "image":
        return _image(block.get("source"), f"{param}.source")
    if kind == "document":
        return _document(block, param)
    if kind == "tool_use":
        tool_input = block.get("input", {})
        return ToolUsePart(
            id=want_str(block.get("id"), f"{param}.id"),
            name=want_str(block.get("name"), f"{param}.name"),
            input=want_object(tool_input if tool_input is not None else {}, f"{param}.input"),
        )
    if kind == "tool_result":
        return _tool_result(block, param)
    if kind == "thinking":
        return ThinkingPart(
            want_str(block.get("thinking", ""), f"{param}.thinking"),
            opt_str(block.get("signature"), f"{param}.signature") or "",
        )
    if kind == "server_tool_use":
        return _server_tool_use(block)
    if kind == "web_search_tool_result":
        return _web_search_result(block)
    return None  # redacted thinking, other server tool blocks, ...: nothing Kiro can take


def _server_tool_use(block: dict[str, Any]) -> Part | None:
    """An echoed server tool call, as text the model can read (Kiro has no such block)."""
    tool_input = block.get("input")
    query = tool_input.get("query") if isinstance(tool_input, dict) else None
    if block.get("name") == "web_search" and isinstance(query, str):
        return TextPart(f"[web search: {query}]")
    return None


def _web_search_result(block: dict[str, Any]) -> Part:
    """Echoed search results as a short list of titles and URLs (their content is opaque)."""
    content = block.get("content")
    if not isinstance(content, list):
        code = content.get("error_code") if isinstance(content, dict) else None
        return TextPart(f"[web search failed: {code if isinstance(code, str) else 'error'}]")
    lines = ["[web search results]"]
    for item in content:
        if isinstance(item, dict) and isinstance(item.get("url"), str):
            title = item.get("title") if isinstance(item.get("title"), str) else item["url"]
            age = f" ({item['page_age']})" if isinstance(item.get("page_age"), str) else ""
            lines.append(f"- {title}{age}: {item['url']}")
    if len(lines) == 1:
        lines.append("(no results)")
    return TextPart("\n".join(lines))


def _image(source: object, param: str) -> Part:
    src = want_object(source, param)
    if src.get("type") == "base64":
        media_type = want_str(src.get("media_type"), f"{param}.media_type")
        data = want_str(src.get("data"), f"{param}.data")
        check_image(media_type, data, f"{param}.data")
        return ImagePart(media_type.lower(), data)
    if src.get("type") == "url":  # fetched by the gateway before the Kiro call (this layer does no I/O)
        return ImageUrlPart(want_str(src.get("url"), f"{param}.url"), f"{param}.url")
    return TextPart("[image not available]")


def _document(block: dict[str, Any], param: str) -> Part:
    source = want_object(block.get("source"), f"{param}.source")
    title = block.get("title") if isinstance(block.get("title"), str) else None
    header = f"[document: {title}]\n" if title else ""
    if source.get("type") == "text":
        return TextPart(header + want_str(source.get("data", ""), f"{param}.source.data"))
    if source.get("type") == "content" and isinstance(source.get("content"), list | str):
        texts = [
            p.text for p in _content(source["content"], f"{param}.source.content") if isinstance(p, TextPart)
        ]
        return TextPart(header + "\n".join(texts))
    return TextPart(f"[document not available{': ' + title if title else ''}]")


def _tool_result(block: dict[str, Any], param: str) -> ToolResultPart:
    tool_use_id = want_str(block.get("tool_use_id"), f"{param}.tool_use_id")
    texts: list[str] = []
    images: list[ImagePart] = []
    image_urls: list[ImageUrlPart] = []
    for part in _content(block.get("content"), f"{param}.content"):
        if isinstance(part, TextPart):
            texts.append(part.text)
        elif isinstance(part, ImagePart):
            images.append(part)
        elif isinstance(part, ImageUrlPart):
            image_urls.append(part)
    return ToolResultPart(
        tool_use_id=tool_use_id,
        text="\n".join(texts),
        is_error=opt_bool(block.get("is_error"), f"{param}.is_error"),
        images=images,
        image_urls=image_urls,
    )


def _tools(value: object) -> list[Tool]:
    if value is None:
        return []
    tools = []
    for i, raw in enumerate(want_list(value, "tools")):
        spec = want_object(raw, f"tools[{i}]")
        if "input_schema" not in spec and spec.get("type") not in (None, "custom"):
            continue  # a server tool (web_search_…): Kiro cannot run it
        schema = spec.get("input_schema")
        tools.append(
            Tool(
                name=want_str(spec.get("name"), f"tools[{i}].name"),
                description=opt_str(spec.get("description"), f"tools[{i}].description") or "",
                input_schema=want_object(schema, f"tools[{i}].input_schema")
                if schema is not None
                else EMPTY_SCHEMA,
            )
        )
    return tools


def _web_search(value: object) -> WebSearchSpec | None:
    """The `web_search_*` server tool among `tools` (already checked to be a list of objects), if any."""
    if not isinstance(value, list):
        return None
    for i, raw in enumerate(value):
        param = f"tools[{i}]"
        spec = want_object(raw, param)
        kind = spec.get("type")
        if not (isinstance(kind, str) and kind.startswith("web_search_")):
            continue
        max_uses = opt_int(spec.get("max_uses"), f"{param}.max_uses")
        if max_uses is not None and max_uses < 1:
            raise bad(f"{param}.max_uses", "must be at least 1")
        allowed = _domains(spec.get("allowed_domains"), f"{param}.allowed_domains")
        blocked = _domains(spec.get("blocked_domains"), f"{param}.blocked_domains")
        if allowed and blocked:
            raise bad(param, "allowed_domains and blocked_domains cannot be used together")
        name = opt_str(spec.get("name"), f"{param}.name") or "web_search"
        return WebSearchSpec(name, max_uses, allowed, blocked)
    return None


def _domains(value: object, param: str) -> list[str]:
    if value is None:
        return []
    return [want_str(d, f"{param}[{i}]") for i, d in enumerate(want_list(value, param))]


def _tool_choice(value: object) -> ToolChoice:
    if value is None:
        return ToolChoice()
    choice = want_object(value, "tool_choice")
    kind = choice.get("type")
    if kind == "tool":
        return ToolChoice("tool", want_str(choice.get("name"), "tool_choice.name"))
    if kind in ("auto", "any", "none"):
        return ToolChoice(kind)
    raise bad("tool_choice.type", f"expected 'auto', 'any', 'none' or 'tool', got {kind!r}")


def _thinking(value: object, output_config: object) -> ThinkingRequest | None:
    if value is None:
        return None
    thinking = want_object(value, "thinking")
    kind = thinking.get("type")
    effort = None
    if isinstance(output_config, dict) and isinstance(output_config.get("effort"), str):
        effort = output_config["effort"]
    if kind == "enabled":
        budget = opt_int(thinking.get("budget_tokens"), "thinking.budget_tokens")
        if budget is not None and budget < 1:
            raise bad("thinking.budget_tokens", "must be at least 1")
        return ThinkingRequest("enabled", budget_tokens=budget, effort=effort)
    if kind == "adaptive":
        return ThinkingRequest("adaptive", effort=effort or "high")
    if kind == "disabled":
        return None
    raise bad("thinking.type", f"expected 'enabled', 'adaptive' or 'disabled', got {kind!r}")


def _stop_sequences(value: object) -> list[str]:
    if value is None:
        return []
    return [want_str(s, f"stop_sequences[{i}]") for i, s in enumerate(want_list(value, "stop_sequences"))]


def _session_from_metadata(metadata: object) -> str | None:
    """Claude Code sends `metadata.user_id` as JSON with `session_id`; older builds end it `_session_<id>`."""
    if not isinstance(metadata, dict) or not isinstance(metadata.get("user_id"), str):
        return None
    user_id: str = metadata["user_id"]
    if user_id.startswith("{"):
        try:
            parsed = orjson.loads(user_id)
        except orjson.JSONDecodeError:
            return None
        session = parsed.get("session_id") if isinstance(parsed, dict) else None
        return session if isinstance(session, str) and session else None
    _, marker, session_id = user_id.rpartition("_session_")
    return session_id if marker and session_id else None

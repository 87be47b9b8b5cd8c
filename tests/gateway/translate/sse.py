"""Parse and normalise SSE transcripts so outputs can be compared with the golden files.

Normalising replaces ids, `created`, model names, `system_fingerprint`, token counts and signatures
with placeholders, drops pings, and merges consecutive deltas of one block (the split of fragments is
arbitrary; event order, field presence and concatenated values are what must match).
"""

from __future__ import annotations

import json
from typing import Any

from shared.kiro.events import (
    KiroEvent,
    TextDelta,
    ToolUseInputDelta,
    ToolUseStart,
    ToolUseStop,
)

ANY = "<normalised>"


def anthropic_events(body: bytes) -> list[dict[str, Any]]:
    """The (event, data) pairs of an Anthropic stream; checks every `event:` equals its data `type`."""
    events = []
    for raw in body.decode().split("\n\n"):
        if not raw.strip() or raw.startswith(":"):
            continue
        lines = raw.split("\n")
        assert lines[0].startswith("event: ") and lines[1].startswith("data: "), raw
        name, data = lines[0][7:], json.loads(lines[1][6:])
        assert data["type"] == name
        events.append(data)
    return events


def openai_chunks(body: bytes) -> list[Any]:
    """The `data:` payloads of an OpenAI stream (`"[DONE]"` kept as a string); no `event:` lines."""
    chunks: list[Any] = []
    for raw in body.decode().split("\n\n"):
        if not raw.strip() or raw.startswith(":"):
            continue
        assert raw.startswith("data: ") and "\n" not in raw, raw
        payload = raw[6:]
        chunks.append(payload if payload == "[DONE]" else json.loads(payload))
    return chunks


def normalise_anthropic(body: bytes) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for event in anthropic_events(body):
        kind = event["type"]
        if kind == "ping":
            continue
        if kind == "message_start":
            message = event["message"]
            message.update(id=ANY, model=ANY)
            message["usage"] = dict.fromkeys(message["usage"], ANY)
        elif kind == "content_block_start" and event["content_block"]["type"] == "tool_use":
            event["content_block"]["id"] = ANY
        elif kind == "message_delta":
            event["usage"] = dict.fromkeys(event["usage"], ANY)
        elif kind == "content_block_delta":
            delta = event["delta"]
            if delta["type"] == "signature_delta":
                delta["signature"] = ANY
            previous = out[-1] if out else {}
            if (
                previous.get("type") == "content_block_delta"
                and previous["index"] == event["index"]
                and previous["delta"]["type"] == delta["type"]
                and delta["type"] != "signature_delta"
            ):
                field = _delta_field(delta["type"])
                previous["delta"][field] += delta[field]
                continue
        out.append(event)
    return out


def _delta_field(delta_type: str) -> str:
    return {"text_delta": "text", "thinking_delta": "thinking", "input_json_delta": "partial_json"}[
        delta_type
    ]


def normalise_openai(body: bytes) -> list[Any]:
    out: list[Any] = []
    for chunk in openai_chunks(body):
        if chunk == "[DONE]":
            out.append(chunk)
            continue
        chunk.update(id=ANY, created=ANY, model=ANY, system_fingerprint=ANY)
        if chunk.get("usage"):
            chunk["usage"] = dict.fromkeys(chunk["usage"], ANY)
        if not chunk["choices"]:
            out.append(chunk)
            continue
        delta = chunk["choices"][0]["delta"]
        if "role" in delta:
            # the role chunk is a chunk of its own; OpenAI may put the first tool call in it
            calls = delta.pop("tool_calls", None)
            delta.setdefault("refusal", None)
            out.append(chunk)
            if calls:
                out.append(_with_delta(chunk, {"tool_calls": calls}))
            continue
        previous = out[-1] if out else None
        if previous is not None and previous != "[DONE]" and _mergeable(previous, chunk):
            _merge(previous["choices"][0]["delta"], delta)
            continue
        out.append(chunk)
    return out


def _with_delta(chunk: dict[str, Any], delta: dict[str, Any]) -> dict[str, Any]:
    copy = json.loads(json.dumps(chunk))
    copy["choices"][0]["delta"] = delta
    return copy


def _mergeable(previous: dict[str, Any], chunk: dict[str, Any]) -> bool:
    if (
        not previous.get("choices")
        or previous["choices"][0]["finish_reason"]
        or chunk["choices"][0]["finish_reason"]
    ):
        return False
    a, b = previous["choices"][0]["delta"], chunk["choices"][0]["delta"]
    if set(a) == set(b) == {"content"}:
        return True
    if set(a) == set(b) == {"reasoning_content"}:
        return True
    if set(a) == set(b) == {"tool_calls"}:
        call = b["tool_calls"][0]
        return set(call) == {"index", "function"} and call["index"] == a["tool_calls"][0]["index"]
    return False


def _merge(into: dict[str, Any], delta: dict[str, Any]) -> None:
    if "content" in delta:
        into["content"] += delta["content"]
    elif "reasoning_content" in delta:
        into["reasoning_content"] += delta["reasoning_content"]
    else:
        into["tool_calls"][0]["function"]["arguments"] += delta["tool_calls"][0]["function"]["arguments"]


def _stop(tool_use_id: str, name: str, parts: list[str]) -> ToolUseStop:
    raw = "".join(parts) or "{}"
    return ToolUseStop(tool_use_id, name, raw, json.loads(raw), None, "stop")


def events_from_anthropic(body: bytes) -> list[KiroEvent]:
    """The Kiro events that would make a translator produce this Anthropic transcript."""
    events: list[KiroEvent] = []
    open_tool: tuple[str, str, list[str]] | None = None
    for event in anthropic_events(body):
        kind = event["type"]
        if kind == "content_block_start":
            block = event["content_block"]
            if block["type"] == "thinking":
                events.append(TextDelta("<thinking>"))
            elif block["type"] == "tool_use":
                open_tool = (block["id"], block["name"], [])
                events.append(ToolUseStart(block["id"], block["name"]))
        elif kind == "content_block_delta":
            delta = event["delta"]
            if delta["type"] in ("text_delta", "thinking_delta"):
                events.append(TextDelta(delta[_delta_field(delta["type"])]))
            elif delta["type"] == "input_json_delta" and delta["partial_json"] and open_tool is not None:
                open_tool[2].append(delta["partial_json"])
                events.append(ToolUseInputDelta(open_tool[0], delta["partial_json"]))
            elif delta["type"] == "signature_delta":
                events.append(TextDelta("</thinking>\n\n"))
        elif kind == "content_block_stop" and open_tool is not None:
            events.append(_stop(*open_tool))
            open_tool = None
    return events


def events_from_openai(body: bytes) -> list[KiroEvent]:
    """The Kiro events that would make a translator produce this OpenAI transcript."""
    events: list[KiroEvent] = []
    open_tool: tuple[str, str, list[str]] | None = None
    for chunk in openai_chunks(body):
        if chunk == "[DONE]" or not chunk["choices"]:
            continue
        delta = chunk["choices"][0]["delta"]
        if delta.get("content"):
            events.append(TextDelta(delta["content"]))
        for call in delta.get("tool_calls", []):
            if "id" in call:
                if open_tool is not None:
                    events.append(_stop(*open_tool))
                open_tool = (call["id"], call["function"]["name"], [])
                events.append(ToolUseStart(call["id"], call["function"]["name"]))
            fragment = call["function"].get("arguments", "")
            if fragment and open_tool is not None:
                open_tool[2].append(fragment)
                events.append(ToolUseInputDelta(open_tool[0], fragment))
    if open_tool is not None:
        events.append(_stop(*open_tool))
    return events

"""Tool declarations as Kiro takes them: name limits with a reversible map, description limits, schemas."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from typing import Any

from services.gateway.translate.ir import Tool

MAX_TOOL_NAME = 64
MAX_TOOL_DESCRIPTION = 10_000
HISTORY_TOOL_DESCRIPTION = "Tool used in conversation history"
_NAME_OK = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_NAME_BAD_CHARS = re.compile(r"[^A-Za-z0-9_-]")


class ToolNameMap:
    """Client tool name <-> the name sent to Kiro (≤ 64 chars of [A-Za-z0-9_-]); identity when it fits."""

    def __init__(self) -> None:
        self._to_kiro: dict[str, str] = {}
        self._to_client: dict[str, str] = {}
        self._by_lower: dict[str, str] = {}

    def add(self, client_name: str) -> str:
        """Register a client name; returns its Kiro name."""
        known = self._to_kiro.get(client_name)
        if known is not None:
            return known
        kiro_name = client_name if _NAME_OK.match(client_name) else _shorten(client_name)
        while kiro_name in self._to_client:  # two client names squeezed to one: disambiguate
            kiro_name = _shorten(kiro_name + client_name + "~")
        self._to_kiro[client_name] = kiro_name
        self._to_client[kiro_name] = client_name
        self._by_lower.setdefault(client_name.lower(), client_name)
        return kiro_name

    def declared(self, client_name: str) -> str | None:
        """The declared client name matching `client_name` case-insensitively, if any."""
        return self._by_lower.get(client_name.lower())

    def to_kiro(self, client_name: str) -> str:
        return self._to_kiro.get(client_name) or self.add(client_name)

    def to_client(self, kiro_name: str) -> str:
        """The client's own name for a tool Kiro called (unknown names come back unchanged)."""
        return self._to_client.get(kiro_name, kiro_name)

    @property
    def renamed(self) -> dict[str, str]:
        """Kiro name -> client name, for the names that had to change."""
        return {k: c for k, c in self._to_client.items() if k != c}


def _shorten(name: str) -> str:
    digest = hashlib.sha1(name.encode(), usedforsecurity=False).hexdigest()[:8]
    cleaned = _NAME_BAD_CHARS.sub("_", name)
    if len(cleaned) <= MAX_TOOL_NAME and cleaned != name:
        return cleaned
    return f"{cleaned[: MAX_TOOL_NAME - 9]}_{digest}"


@dataclass
class ToolSpecs:
    """The `tools` array for Kiro plus the long descriptions that moved to the system prompt."""

    specs: list[dict[str, Any]] = field(default_factory=list)
    moved_docs: list[str] = field(default_factory=list)


def build_tool_specs(tools: list[Tool], names: ToolNameMap) -> ToolSpecs:
    out = ToolSpecs()
    seen: set[str] = set()
    for tool in tools:
        kiro_name = names.add(tool.name)
        if kiro_name.lower() in seen:
            continue  # duplicate declarations are rejected upstream
        seen.add(kiro_name.lower())
        description = tool.description.strip() or f"Tool {tool.name}"
        if len(description) > MAX_TOOL_DESCRIPTION:
            out.moved_docs.append(f"# Tool documentation: {kiro_name}\n\n{description}")
            description = (
                f"Tool {kiro_name}. Its full description is in the system prompt under "
                f"'# Tool documentation: {kiro_name}'."
            )
        out.specs.append(_spec(kiro_name, description, clean_schema(tool.input_schema)))
    return out


def history_tool_spec(kiro_name: str) -> dict[str, Any]:
    """Placeholder declaration for a tool that history used but the client no longer declares."""
    return _spec(kiro_name, HISTORY_TOOL_DESCRIPTION, {"type": "object", "properties": {}})


def _spec(name: str, description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"toolSpecification": {"name": name, "description": description, "inputSchema": {"json": schema}}}


def clean_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """An object schema without the keys Kiro chokes on (`$schema`, `required: null`)."""
    cleaned = {k: v for k, v in schema.items() if k != "$schema" and not (k == "required" and v is None)}
    cleaned.setdefault("type", "object")
    if cleaned.get("type") == "object" and not isinstance(cleaned.get("properties"), dict):
        cleaned["properties"] = {}
    return cleaned

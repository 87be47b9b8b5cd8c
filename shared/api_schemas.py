"""Request bodies of the client API as JSON Schema, for the OpenAPI description of router and gateway.

The proxy routes read raw bodies (they are translated, not validated by pydantic), so FastAPI cannot derive
their schema; these describe what clients send. Both services publish the same ones, so a client generator
or a fuzzer (tests/chaos/test_openapi_fuzz.py) sees one contract. Unknown fields are allowed everywhere:
clients send many the API ignores.
"""

from __future__ import annotations

from typing import Any

_TEXT_BLOCK = {
    "type": "object",
    "required": ["type", "text"],
    "properties": {"type": {"const": "text"}, "text": {"type": "string"}},
}
_ANTHROPIC_BLOCK = {
    "type": "object",
    "required": ["type"],
    "properties": {
        "type": {"type": "string", "examples": ["text", "image", "tool_use", "tool_result", "thinking"]},
        "text": {"type": "string"},
        "id": {"type": "string"},
        "name": {"type": "string"},
        "input": {"type": "object"},
        "tool_use_id": {"type": "string"},
        "content": {"oneOf": [{"type": "string"}, {"type": "array", "items": {"type": "object"}}]},
        "source": {"type": "object"},
    },
}
_ANTHROPIC_MESSAGE = {
    "type": "object",
    "required": ["role", "content"],
    "properties": {
        "role": {"enum": ["user", "assistant"]},
        "content": {"oneOf": [{"type": "string"}, {"type": "array", "items": _ANTHROPIC_BLOCK}]},
    },
}
_ANTHROPIC_TOOL = {
    "type": "object",
    "required": ["name"],
    "properties": {
        "name": {"type": "string"},
        "description": {"type": "string"},
        "input_schema": {"type": "object"},
        "type": {"type": "string"},
    },
}
#: structured output (docs/structured-output.md): `output_config.format`, or the beta `output_format`
_JSON_OUTPUT = {
    "type": "object",
    "required": ["type", "schema"],
    "properties": {"type": {"const": "json_schema"}, "schema": {"type": "object"}},
}
_ANTHROPIC_COMMON: dict[str, Any] = {
    "model": {"type": "string", "examples": ["claude-sonnet-4.5"]},
    "messages": {"type": "array", "items": _ANTHROPIC_MESSAGE},
    "system": {"oneOf": [{"type": "string"}, {"type": "array", "items": _TEXT_BLOCK}]},
    "tools": {"type": "array", "items": _ANTHROPIC_TOOL},
    "tool_choice": {"type": "object"},
    "thinking": {
        "type": "object",
        "properties": {"type": {"enum": ["enabled", "disabled"]}, "budget_tokens": {"type": "integer"}},
    },
    "output_config": {"type": "object", "properties": {"effort": {"type": "string"}, "format": _JSON_OUTPUT}},
    "output_format": _JSON_OUTPUT,
}

ANTHROPIC_MESSAGES: dict[str, Any] = {
    "type": "object",
    "required": ["model", "messages", "max_tokens"],
    "properties": {
        **_ANTHROPIC_COMMON,
        "max_tokens": {"type": "integer", "minimum": 1},
        "stream": {"type": "boolean"},
        "temperature": {"type": "number", "minimum": 0, "maximum": 1},
        "top_p": {"type": "number", "minimum": 0, "maximum": 1},
        "top_k": {"type": "integer", "minimum": 0},
        "stop_sequences": {"type": "array", "items": {"type": "string"}},
        "metadata": {"type": "object"},
    },
}
ANTHROPIC_COUNT_TOKENS: dict[str, Any] = {
    "type": "object",
    "required": ["model", "messages"],
    "properties": _ANTHROPIC_COMMON,
}

_OPENAI_MESSAGE = {
    "type": "object",
    "required": ["role"],
    "properties": {
        "role": {"enum": ["system", "developer", "user", "assistant", "tool"]},
        "content": {
            "oneOf": [
                {"type": "string"},
                {"type": "array", "items": {"type": "object", "required": ["type"]}},
                {"type": "null"},
            ]
        },
        "name": {"type": "string"},
        "tool_calls": {"type": "array", "items": {"type": "object"}},
        "tool_call_id": {"type": "string"},
    },
}
_OPENAI_TOOL = {
    "type": "object",
    "required": ["type", "function"],
    "properties": {
        "type": {"const": "function"},
        "function": {
            "type": "object",
            "required": ["name"],
            "properties": {
                "name": {"type": "string"},
                "description": {"type": "string"},
                "parameters": {"type": "object"},
            },
        },
    },
}

OPENAI_CHAT: dict[str, Any] = {
    "type": "object",
    "required": ["model", "messages"],
    "properties": {
        "model": {"type": "string", "examples": ["claude-sonnet-4.5"]},
        "messages": {"type": "array", "items": _OPENAI_MESSAGE},
        "stream": {"type": "boolean"},
        "stream_options": {"type": "object", "properties": {"include_usage": {"type": "boolean"}}},
        "max_tokens": {"type": "integer", "minimum": 1},
        "max_completion_tokens": {"type": "integer", "minimum": 1},
        "temperature": {"type": "number", "minimum": 0, "maximum": 2},
        "top_p": {"type": "number", "minimum": 0, "maximum": 1},
        "stop": {"oneOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]},
        "tools": {"type": "array", "items": _OPENAI_TOOL},
        "tool_choice": {"oneOf": [{"type": "string"}, {"type": "object"}]},
        "reasoning_effort": {"type": "string"},
        "response_format": {
            "type": "object",
            "required": ["type"],
            "properties": {
                "type": {"enum": ["text", "json_object", "json_schema"]},
                "json_schema": {
                    "type": "object",
                    "properties": {
                        "name": {"type": "string"},
                        "description": {"type": "string"},
                        "schema": {"type": "object"},
                        "strict": {"type": "boolean"},
                    },
                },
            },
        },
    },
}

OPENAI_RESPONSES: dict[str, Any] = {
    "type": "object",
    "required": ["model", "input"],
    "properties": {
        "model": {"type": "string", "examples": ["claude-sonnet-4.5"]},
        "input": {"oneOf": [{"type": "string"}, {"type": "array", "items": {"type": "object"}}]},
        "instructions": {"type": "string"},
        "previous_response_id": {"type": "string"},
        "store": {"type": "boolean"},
        "stream": {"type": "boolean"},
        "max_output_tokens": {"type": "integer", "minimum": 1},
        "tools": {"type": "array", "items": {"type": "object"}},
        "tool_choice": {"oneOf": [{"type": "string"}, {"type": "object"}]},
        "reasoning": {"type": "object", "properties": {"effort": {"type": "string"}}},
        "include": {"type": "array", "items": {"type": "string"}},
        "text": {"type": "object"},
    },
}


def json_body(schema: dict[str, Any]) -> dict[str, Any]:
    """`openapi_extra` for a route whose JSON body follows `schema` (FastAPI cannot see a raw body's)."""
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": schema}}}}

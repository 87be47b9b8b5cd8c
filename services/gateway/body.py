"""Reading a client's JSON body safely: size limit (413, shared/http_body.py), malformed JSON, nesting depth,
object shape."""

from __future__ import annotations

from typing import Any

import orjson

from shared.errors import InvalidRequestError
from shared.http_body import BodyTooLarge, read_body

__all__ = ["BodyTooLarge", "json_depth_exceeds", "parse_json_object", "read_body"]


def json_depth_exceeds(value: Any, max_depth: int) -> bool:
    """True when containers nest deeper than `max_depth` (iterative: deep input cannot blow the stack)."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > max_depth:
            return True
        if isinstance(node, dict):
            stack.extend((child, depth + 1) for child in node.values() if isinstance(child, dict | list))
        elif isinstance(node, list):
            stack.extend((child, depth + 1) for child in node if isinstance(child, dict | list))
    return False


def parse_json_object(raw: bytes, max_depth: int) -> dict[str, Any]:
    """Parse a request body that must be one JSON object; every failure is a clear 400."""
    if not raw.strip():
        raise InvalidRequestError("request body is empty; expected a JSON object")
    # a body cannot nest deeper than it has brackets, so most bodies skip the depth walk
    may_be_deep = raw.count(b"{") + raw.count(b"[") > max_depth
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        if "recursion" in str(exc).lower():
            raise InvalidRequestError(f"JSON nesting deeper than {max_depth} levels") from None
        raise InvalidRequestError(f"request body is not valid JSON: {exc}") from None
    if not isinstance(value, dict):
        raise InvalidRequestError(f"request body must be a JSON object, not {type(value).__name__}")
    if may_be_deep and json_depth_exceeds(value, max_depth):
        raise InvalidRequestError(f"JSON nesting deeper than {max_depth} levels")
    return value

"""Reading a client's JSON body safely: size limit (413, shared/http_body.py), malformed JSON, nesting depth,
object shape."""

from __future__ import annotations

from typing import Any

import orjson

from shared.errors import InvalidRequestError
from shared.http_body import BodyTooLarge, read_body

__all__ = ["BodyTooLarge", "json_depth_exceeds", "parse_json_object", "read_body"]


def json_depth_exceeds(value: Any, max_depth: int) -> bool:
    """True when containers nest deeper than `max_depth`.

    Level by level (iterative: deep input cannot blow the stack), touching containers only: the cost is
    the number of objects and arrays, never the bytes of the strings in them.
    """
    level = [value] if isinstance(value, dict | list) else []
    depth = 1
    while level:
        if depth > max_depth:
            return True
        below = []
        for node in level:
            for child in node.values() if isinstance(node, dict) else node:
                if isinstance(child, dict | list):
                    below.append(child)
        level = below
        depth += 1
    return False


def parse_json_object(raw: bytes, max_depth: int) -> dict[str, Any]:
    """Parse a request body that must be one JSON object; every failure is a clear 400."""
    if not raw.strip():
        raise InvalidRequestError("request body is empty; expected a JSON object")
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        if "recursion" in str(exc).lower():
            raise InvalidRequestError(f"JSON nesting deeper than {max_depth} levels") from None
        raise InvalidRequestError(f"request body is not valid JSON: {exc}") from None
    if not isinstance(value, dict):
        raise InvalidRequestError(f"request body must be a JSON object, not {type(value).__name__}")
    if json_depth_exceeds(value, max_depth):
        raise InvalidRequestError(f"JSON nesting deeper than {max_depth} levels")
    return value

"""Reading a client's JSON body safely: size limit (413), malformed JSON, nesting depth, object shape."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.requests import ClientDisconnect, Request

from shared.errors import InvalidRequestError


class BodyTooLarge(InvalidRequestError):
    """The request body is over the configured byte limit (HTTP 413)."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"request body exceeds the {limit}-byte limit", status=413)


async def read_body(request: Request, limit: int) -> bytes:
    """The whole body, refusing early (by Content-Length) or while reading when it exceeds `limit`."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise BodyTooLarge(limit)
    chunks: list[bytes] = []
    size = 0
    try:
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise BodyTooLarge(limit)
            chunks.append(chunk)
    except ClientDisconnect as exc:  # gone mid-body, or closed for stalling: a 400 nobody reads, no traceback
        raise InvalidRequestError("the client disconnected before sending the whole body") from exc
    return b"".join(chunks)


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

"""What the router needs from a request body: the model and a conversation affinity hint.

The router routes on these two alone; everything else is the gateway's to read. When the client names its
session in a header (Claude Code) and the body opens with `{"model": "…"`, the model is read from the
first bytes and the rest is never parsed: a 76 KB Claude Code turn would otherwise be built into some
thousands of Python objects per request (and the garbage collector's work that comes with them). Any
doubt falls back to the full parse, so both paths agree on every body; a malformed body the short path
does not read gets its 400 from the gateway, in the same client shape.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Any

import orjson

from services.router.errors import ClientError

_SAFE_MODEL = re.compile(r"^[A-Za-z0-9._:/\[\]-]{1,64}$")


#: a body that opens with the model as a plain string (no escape, no control character)
_WS = rb"[ \t\n\r]*"  # JSON's whitespace, no more
_LEADING_MODEL = re.compile(
    _WS + rb"\{" + _WS + rb'"model"' + _WS + b":" + _WS + rb'"([^"\\\x00-\x1f]{0,256})"' + _WS + b"[,}]"
)
#: after a later `"model"`: a value that is neither object nor array (maybe a duplicate top-level key, which
#: the gateway, where the last one wins, would read instead of the first; an object or array there is a tool
#: schema's property, or a model the gateway refuses anyway as it must be a string)
_SCALAR_VALUE = re.compile(_WS + b":" + _WS + rb"[^ \t\n\r{\[]")


@dataclass(frozen=True)
class BodyHints:
    model: str
    conversation: str | None  # stable id of the conversation, hashed; None when there is nothing to go on


def read_hints(body: bytes, session_header: str | None) -> BodyHints:
    """The model and conversation hint; 400 in the client's shape when the body is not a JSON object."""
    if session_header:
        model = leading_model(body)
        if model is not None:
            return BodyHints(model=model, conversation=_hashed(b"session:" + session_header.encode()))
    return _parsed_hints(body, session_header)


def leading_model(body: bytes) -> str | None:
    """The model of a body that opens with `{"model": "<plain string>"` and names no other model, else None
    (the caller parses the whole body)."""
    opening = _LEADING_MODEL.match(body)
    # `\u006…` escapes spell the letters of `model` (`"mod\u0065l"` is the same key): any of them, fall back
    if opening is None or b"\\u006" in body:
        return None
    at = body.find(b'"model"', opening.end())
    while at != -1:
        if _SCALAR_VALUE.match(body, at + 7):
            return None
        at = body.find(b'"model"', at + 7)
    try:
        return opening.group(1).decode()
    except UnicodeDecodeError:
        return None


def _parsed_hints(body: bytes, session_header: str | None) -> BodyHints:
    """The whole body parsed (orjson): any key order, duplicate keys (the last wins, as in the gateway)."""
    try:
        data = orjson.loads(body) if body else {}
    except orjson.JSONDecodeError as exc:
        raise ClientError(400, f"request body is not valid JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise ClientError(400, "request body must be a JSON object")
    model = data.get("model")
    return BodyHints(
        model=model if isinstance(model, str) else "", conversation=_conversation(data, session_header)
    )


def safe_model(model: str) -> str:
    """The model name as metrics labels and the request log show it: `other` when it is not a model name."""
    return model if _SAFE_MODEL.match(model) else ("" if not model else "other")


def _conversation(data: dict[str, Any], session_header: str | None) -> str | None:
    """Client session id if any, else system prompt + first user message: the same across turns."""
    hint: bytes | None = None
    metadata = data.get("metadata")
    cache_key = data.get("prompt_cache_key")  # Responses clients (Codex) send their conversation id
    if session_header:
        hint = b"session:" + session_header.encode()
    elif isinstance(cache_key, str) and cache_key:
        hint = b"cache:" + cache_key.encode()
    elif isinstance(metadata, dict) and isinstance(metadata.get("user_id"), str) and metadata["user_id"]:
        hint = b"user:" + metadata["user_id"].encode()
    else:
        messages = data.get("messages")
        if isinstance(messages, list):
            first_user = next((m for m in messages if isinstance(m, dict) and m.get("role") == "user"), None)
            if first_user is not None:
                hint = orjson.dumps([data.get("system"), first_user.get("content")])
        elif isinstance(data.get("input"), str | list):  # Responses: instructions + the first input item
            items = data["input"]
            first = items if isinstance(items, str) else items[0] if items else None
            hint = orjson.dumps([data.get("instructions"), first]) if first else None
    return None if hint is None else _hashed(hint)


def _hashed(hint: bytes) -> str:
    return hashlib.sha256(hint).hexdigest()[:32]

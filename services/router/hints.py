"""What the router needs from a request body: model, stream flag and a conversation affinity hint."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Any

import orjson

from services.router.errors import ClientError

_SAFE_MODEL = re.compile(r"^[A-Za-z0-9._:/\[\]-]{1,64}$")


@dataclass(frozen=True)
class BodyHints:
    model: str
    stream: bool
    conversation: str | None  # stable id of the conversation, hashed; None when there is nothing to go on


def read_hints(body: bytes, session_header: str | None) -> BodyHints:
    """Parse the JSON body once; 400 in the client's shape when it is not a JSON object."""
    try:
        data = orjson.loads(body) if body else {}
    except orjson.JSONDecodeError as exc:
        raise ClientError(400, f"request body is not valid JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise ClientError(400, "request body must be a JSON object")
    model = data.get("model")
    return BodyHints(
        model=model if isinstance(model, str) else "",
        stream=data.get("stream") is True,
        conversation=_conversation(data, session_header),
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
    if hint is None:
        return None
    return hashlib.sha256(hint).hexdigest()[:32]

"""The account check's pure parts (sans-I/O): the smallest valid chat, and what a Kiro answer says, error
or not (kiro-protocol.md §3.1, §8). The routes to try come from `KiroEndpoints.chat_routes`.

The check reports Kiro's own words: the HTTP status, the error type (`x-amzn-errortype` or `__type`),
the `reason` and the `message`; it does not classify them (that is the gateway's job).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

import orjson

from shared.errors import EventStreamError
from shared.kiro.events import KiroEventStream, Metering, StreamError, TextDelta

#: the whole prompt of the check's chat: one word, so the answer costs as little as Kiro allows
PROBE_PROMPT = "Hi"
#: models tried first for the check's chat, cheapest first; otherwise the first model the account lists
PROBE_MODELS = ("claude-haiku-4.5", "claude-sonnet-4", "claude-sonnet-4.5")
FALLBACK_MODEL = "claude-sonnet-4.5"
_MESSAGE_LIMIT = 500


def probe_model(models: Iterable[Mapping[str, Any]]) -> str:
    """The model of the check's chat: the cheapest known one the account lists, else its first."""
    listed = [str(m["modelId"]) for m in models if m.get("modelId")]
    for model in PROBE_MODELS:
        if model in listed:
            return model
    return listed[0] if listed else FALLBACK_MODEL


def probe_chat_body(model_id: str, origin: str, profile_arn: str = "") -> dict[str, Any]:
    """The smallest chat Kiro accepts: one user message of one word, no history, no tools."""
    body: dict[str, Any] = {
        "conversationState": {
            "chatTriggerType": "MANUAL",
            "conversationId": str(uuid.uuid4()),
            "currentMessage": {
                "userInputMessage": {"content": PROBE_PROMPT, "modelId": model_id, "origin": origin}
            },
        }
    }
    if profile_arn:
        body["profileArn"] = profile_arn
    return body


@dataclass(frozen=True, slots=True)
class KiroError:
    """Kiro's answer to a failed call, as it said it (`status` 0: no HTTP answer at all)."""

    status: int
    type: str = ""
    reason: str = ""
    message: str = ""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def __str__(self) -> str:
        head = f"HTTP {self.status}" if self.status else "no answer"
        parts = [head] + [p for p in (self.type, self.reason) if p]
        return " ".join(parts) + (f": {self.message}" if self.message else "")


def describe_error(status: int, headers: Mapping[str, str], body: bytes) -> KiroError:
    """A non-200 answer: status, error type, reason and message (Kiro's `{"message","reason"}`, OAuth's
    `{"error","error_description"}`, AWS's `__type` / `x-amzn-errortype`)."""
    data: Any
    try:
        data = orjson.loads(body) if body else {}
    except orjson.JSONDecodeError:
        data = None
    error_type = headers.get("x-amzn-errortype", "").split(":", 1)[0]
    if not isinstance(data, dict):
        text = body[:_MESSAGE_LIMIT].decode("utf-8", "replace").strip()
        return KiroError(status, error_type, "", text)
    nested = data.get("error")
    reason = data.get("reason") or (nested.get("reason") if isinstance(nested, dict) else None)
    if isinstance(nested, str):  # OAuth: {"error": "invalid_grant", "error_description": ...}
        reason = reason or nested
    message = ""
    for name in ("message", "Message", "error_description", "errorDescription"):
        value = data.get(name)
        if isinstance(value, str) and value:
            message = value
            break
    if not message and isinstance(nested, dict) and isinstance(nested.get("message"), str):
        message = nested["message"]
    aws_type = data.get("__type")
    if not error_type and isinstance(aws_type, str):
        error_type = aws_type.rsplit("#", 1)[-1]
    return KiroError(status, error_type, str(reason or ""), message[:_MESSAGE_LIMIT])


@dataclass(frozen=True, slots=True)
class ChatAnswer:
    """What a 200 chat answer held: some of its text, the credits it cost, or the error it carried."""

    text: str
    credits: float
    error: KiroError | None


def read_chat_answer(body: bytes, *, complete: bool = True) -> ChatAnswer:
    """An event-stream answer → its text, credits, and the in-stream error if any. `complete` False:
    the body was cut short on purpose (a frame left half-read is not an error then).

    An answer without any text is an error too: Kiro accepted the call but did not chat.
    """
    stream = KiroEventStream()
    try:
        events = stream.feed(body)
        if complete:
            events += stream.close()
    except EventStreamError as exc:
        return ChatAnswer("", 0.0, KiroError(200, "EventStreamError", "", str(exc)[:_MESSAGE_LIMIT]))
    text = "".join(e.text for e in events if isinstance(e, TextDelta))
    credits = sum(e.usage for e in events if isinstance(e, Metering))
    failure = next((e for e in events if isinstance(e, StreamError)), None)
    if failure is not None:
        return ChatAnswer(text, credits, KiroError(200, failure.error_type, "", failure.message))
    if not text:
        return ChatAnswer("", credits, KiroError(200, "", "", "the answer had no text"))
    return ChatAnswer(text[:200], credits, None)

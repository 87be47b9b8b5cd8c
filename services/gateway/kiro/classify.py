"""Kiro failures → `FailureKind` (kiro-protocol.md §8, design-notes "Failure vocabulary")."""

from __future__ import annotations

import re
from collections.abc import Mapping

import orjson

from shared.errors import FailureKind, UpstreamError

_SUSPENDED = re.compile(r"suspended|disabled|violation of terms|appeal|not authorized|locked", re.IGNORECASE)
CONTENT_TOO_LONG = "CONTENT_LENGTH_EXCEEDS_THRESHOLD"
INVALID_MODEL = "INVALID_MODEL_ID"


def _message_and_reason(body: bytes) -> tuple[str, str | None, dict[str, object]]:
    try:
        data = orjson.loads(body) if body else {}
    except orjson.JSONDecodeError:
        return body[:300].decode("utf-8", "replace").strip(), None, {}
    if not isinstance(data, dict):
        return str(data)[:300], None, {}
    message = data.get("message") or data.get("Message") or ""
    reason = data.get("reason")
    nested = data.get("error")
    if isinstance(nested, dict):
        reason = reason or nested.get("reason")
        message = message or nested.get("message") or ""
    return str(message), str(reason) if reason else None, data


def _seconds(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        seconds = float(value)
    except ValueError:
        return None
    return seconds if seconds >= 0 else None


def classify_http(status: int, body: bytes, headers: Mapping[str, str]) -> UpstreamError:
    """One non-200 answer from the chat endpoint as a classified `UpstreamError`."""
    message, reason, data = _message_and_reason(body)
    text = message or f"Kiro answered HTTP {status}"
    if status == 400:
        kind = FailureKind.INVALID_REQUEST
        http = 404 if reason == INVALID_MODEL else 400
        return UpstreamError(kind, f"Kiro rejected the request: {text}", status=http, reason=reason)
    if status == 401:
        return UpstreamError(
            FailureKind.INVALID_TOKEN, f"Kiro rejected the access token: {text}", status=status
        )
    if status == 403:
        if _SUSPENDED.search(message):
            return UpstreamError(FailureKind.SUSPENDED, f"Kiro account suspended: {text}", status=status)
        return UpstreamError(
            FailureKind.INVALID_TOKEN, f"Kiro rejected the access token: {text}", status=status
        )
    if status == 402:
        reset = data.get("nextDateReset") or data.get("resetAt")
        reset_at = float(reset) if isinstance(reset, int | float) else None
        return UpstreamError(
            FailureKind.QUOTA_EXHAUSTED,
            f"Kiro quota exhausted: {text}",
            status=status,
            reason=reason,
            reset_at=reset_at,
        )
    if status == 429:
        return UpstreamError(
            FailureKind.THROTTLED,
            f"Kiro is throttling this account: {text}",
            status=status,
            retry_after=_seconds(headers.get("Retry-After")),
        )
    return UpstreamError(
        FailureKind.UPSTREAM_ERROR, f"Kiro failed: HTTP {status} {text}".strip(), status=status
    )


def classify_exception_frame(exception_type: str, message: str) -> UpstreamError:
    """A Kiro exception/error frame as a classified `UpstreamError`, wherever in the answer it arrives.

    The one classifier for in-stream failures: before any answer frame (client.py may still retry, or
    the router fail over) and after the first byte (the in-band error and the usage trailer's
    `failure`), so a suspension is a suspension in both places.
    """
    name = exception_type.lower()
    text = f"Kiro {exception_type}: {message}" if message else f"Kiro {exception_type}"
    if "throttl" in name or "toomanyrequests" in name or "servicequotaexceeded" in name:
        return UpstreamError(FailureKind.THROTTLED, text, reason=exception_type)
    if "validation" in name:
        return UpstreamError(FailureKind.INVALID_REQUEST, text, status=400, reason=exception_type)
    if "suspend" in name:
        return UpstreamError(FailureKind.SUSPENDED, text, reason=exception_type)
    if "accessdenied" in name or "forbidden" in name:
        kind = FailureKind.SUSPENDED if _SUSPENDED.search(message) else FailureKind.INVALID_TOKEN
        return UpstreamError(kind, text, reason=exception_type)
    if "expiredtoken" in name or "unrecognizedclient" in name:
        return UpstreamError(FailureKind.INVALID_TOKEN, text, reason=exception_type)
    return UpstreamError(FailureKind.UPSTREAM_ERROR, text, reason=exception_type)

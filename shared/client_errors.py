"""Client error shapes, one definition for router and gateway (client-compat.md §1.6, §2.4).

Anthropic: `{"type":"error","error":{"type","message"},"request_id"?}`; OpenAI:
`{"error":{"message","type","param","code"}}`. The same objects serve as HTTP bodies and as in-band SSE
errors after the first byte. `FAILURE_SHAPES` says how each `FailureKind` looks to a client.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Container
from dataclasses import dataclass
from typing import Any

import orjson

from shared.errors import FailureKind


class Protocol(enum.StrEnum):
    ANTHROPIC = "anthropic"
    OPENAI = "openai"


def retry_headers(seconds: float) -> dict[str, str]:
    """`retry-after` in whole seconds, rounded up (never sooner than it can work), and `retry-after-ms`
    (which the official SDKs prefer); both at least 1."""
    return {
        "retry-after": str(max(1, math.ceil(seconds))),
        "retry-after-ms": str(max(1, math.ceil(seconds * 1000))),
    }


_ANTHROPIC_PATHS = ("/v1/messages",)
_OPENAI_PATHS = ("/v1/chat", "/v1/completions", "/v1/responses")


def protocol_of(path: str, headers: Container[str]) -> Protocol:
    """Which API a caller speaks (so which error shape it understands): by path, and on paths both kinds
    of client use (`/v1/models`, unknown ones) by Anthropic's headers (client-compat.md §1.9)."""
    if path.startswith(_ANTHROPIC_PATHS):
        return Protocol.ANTHROPIC
    if path.startswith(_OPENAI_PATHS):
        return Protocol.OPENAI
    if "anthropic-version" in headers or "x-api-key" in headers:
        return Protocol.ANTHROPIC
    return Protocol.OPENAI


ANTHROPIC_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "billing_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    502: "api_error",
    503: "overloaded_error",
    504: "timeout_error",
    529: "overloaded_error",
}
OPENAI_TYPES = {
    400: "invalid_request_error",
    401: "invalid_request_error",
    402: "insufficient_quota",
    403: "permission_error",
    404: "invalid_request_error",
    413: "invalid_request_error",
    429: "rate_limit_exceeded",
    500: "server_error",
    502: "server_error",
    503: "service_unavailable",
    504: "server_error",
}


@dataclass(frozen=True, slots=True)
class FailureShape:
    """How one failure kind looks to a client: status per protocol, OpenAI type/code, retry advice."""

    anthropic_status: int
    openai_status: int
    openai_type: str | None = None
    openai_code: str | None = None
    should_retry: bool | None = None  # None: let the status decide (SDK default)
    default_retry_after: float | None = None

    def status(self, protocol: Protocol) -> int:
        return self.anthropic_status if protocol is Protocol.ANTHROPIC else self.openai_status


FAILURE_SHAPES: dict[FailureKind, FailureShape] = {
    FailureKind.INVALID_REQUEST: FailureShape(400, 400),
    FailureKind.INVALID_TOKEN: FailureShape(401, 401, openai_code="invalid_api_key", should_retry=False),
    FailureKind.SUSPENDED: FailureShape(403, 403, openai_code="account_suspended", should_retry=False),
    # retry-after on every 429 (§5 item 30): Kiro's reset time when known, else an hour (the router's
    # QUOTA_DEFAULT_RESET_SECONDS default); x-should-retry false keeps SDKs from waiting that long
    FailureKind.QUOTA_EXHAUSTED: FailureShape(
        429,
        429,
        openai_type="insufficient_quota",
        openai_code="insufficient_quota",
        should_retry=False,
        default_retry_after=3600,
    ),
    FailureKind.THROTTLED: FailureShape(429, 429, openai_code="rate_limit_exceeded", default_retry_after=5),
    FailureKind.UPSTREAM_ERROR: FailureShape(529, 503, default_retry_after=2),
    FailureKind.UNAVAILABLE: FailureShape(529, 503, default_retry_after=5),
}


def anthropic_error_type(status: int) -> str:
    return ANTHROPIC_TYPES.get(status, "api_error" if status >= 500 else "invalid_request_error")


def openai_error_type(status: int) -> str:
    return OPENAI_TYPES.get(status, "server_error" if status >= 500 else "invalid_request_error")


def error_payload(
    protocol: Protocol,
    status: int,
    message: str,
    *,
    param: str | None = None,
    error_type: str | None = None,
    code: str | None = None,
    request_id: str | None = None,
) -> dict[str, Any]:
    """The error object exactly as the client's SDK parses it; `error_type` overrides the status's."""
    if protocol is Protocol.ANTHROPIC:
        body: dict[str, Any] = {
            "type": "error",
            "error": {"type": error_type or anthropic_error_type(status), "message": message},
        }
        if request_id:
            body["request_id"] = request_id
        return body
    etype = error_type or openai_error_type(status)
    return {"error": {"message": message, "type": etype, "param": param, "code": code}}


def failure_payload(
    protocol: Protocol, kind: FailureKind, message: str, *, param: str | None = None
) -> dict[str, Any]:
    """The error object for a failure kind (HTTP body before the first byte, in-band event after)."""
    shape = FAILURE_SHAPES[kind]
    if protocol is Protocol.ANTHROPIC:
        return error_payload(protocol, shape.anthropic_status, message)
    return error_payload(
        protocol,
        shape.openai_status,
        message,
        param=param,
        error_type=shape.openai_type,
        code=shape.openai_code,
    )


def sse_error(protocol: Protocol, payload: dict[str, Any]) -> bytes:
    """An in-band error for a stream whose status is already sent: `event: error` or an error chunk."""
    data = orjson.dumps(payload)
    if protocol is Protocol.ANTHROPIC:
        return b"event: error\ndata: " + data + b"\n\n"
    return b"data: " + data + b"\n\n"

"""Client error shapes: every failure leaves the gateway in the client's own protocol.

Anthropic: `{"type":"error","error":{"type","message"},"request_id"}`; OpenAI:
`{"error":{"message","type","param","code"}}` (client-compat.md §1.6, §2.4). Upstream failures also carry
the internal `X-Kiro-Failure` header family the router decides on (docs/architecture.md).
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass

import orjson
from starlette.responses import Response

from shared.errors import FailureKind, InvalidRequestError, UpstreamError
from shared.logging import request_id_var


class Protocol(enum.StrEnum):
    ANTHROPIC = "anthropic"
    OPENAI = "openai"


_ANTHROPIC_TYPES = {
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
_OPENAI_TYPES = {
    400: "invalid_request_error",
    401: "invalid_request_error",
    402: "insufficient_quota",
    403: "permission_error",
    404: "invalid_request_error",
    413: "invalid_request_error",
    429: "rate_limit_exceeded",
    500: "server_error",
    502: "server_error",
    503: "server_error",
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


FAILURE_SHAPES: dict[FailureKind, FailureShape] = {
    FailureKind.INVALID_REQUEST: FailureShape(400, 400),
    FailureKind.INVALID_TOKEN: FailureShape(401, 401, openai_code="invalid_api_key", should_retry=False),
    FailureKind.SUSPENDED: FailureShape(403, 403, openai_code="account_suspended", should_retry=False),
    FailureKind.QUOTA_EXHAUSTED: FailureShape(
        429, 429, openai_type="insufficient_quota", openai_code="insufficient_quota", should_retry=False
    ),
    FailureKind.THROTTLED: FailureShape(429, 429, openai_code="rate_limit_exceeded", default_retry_after=5),
    FailureKind.UPSTREAM_ERROR: FailureShape(529, 503, default_retry_after=2),
    FailureKind.UNAVAILABLE: FailureShape(529, 503, default_retry_after=5),
}


def anthropic_error_type(status: int) -> str:
    return _ANTHROPIC_TYPES.get(status, "api_error" if status >= 500 else "invalid_request_error")


def error_payload(
    protocol: Protocol,
    status: int,
    message: str,
    *,
    param: str | None = None,
    openai_type: str | None = None,
    openai_code: str | None = None,
    anthropic_type: str | None = None,
) -> dict[str, object]:
    """The error object exactly as the client's SDK parses it."""
    if protocol is Protocol.ANTHROPIC:
        return {
            "type": "error",
            "error": {"type": anthropic_type or anthropic_error_type(status), "message": message},
            "request_id": request_id_var.get(),
        }
    etype = openai_type or _OPENAI_TYPES.get(
        status, "server_error" if status >= 500 else "invalid_request_error"
    )
    return {"error": {"message": message, "type": etype, "param": param, "code": openai_code}}


class JSONBytesResponse(Response):
    """A JSON response whose body is serialised with orjson."""

    media_type = "application/json"

    def render(self, content: object) -> bytes:
        if isinstance(content, bytes):
            return content
        return orjson.dumps(content)


def error_response(
    protocol: Protocol,
    status: int,
    message: str,
    *,
    param: str | None = None,
    openai_type: str | None = None,
    openai_code: str | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    body = error_payload(
        protocol, status, message, param=param, openai_type=openai_type, openai_code=openai_code
    )
    return JSONBytesResponse(body, status_code=status, headers=headers)


def invalid_request_response(protocol: Protocol, exc: InvalidRequestError) -> Response:
    """A request we refuse before calling Kiro (400, 404 for unknown OpenAI models, 413, ...)."""
    status = exc.status
    code: str | None = getattr(exc, "code", None)
    if getattr(exc, "max_tokens", None) is not None:  # translate's ContextLengthError
        code = "context_length_exceeded"
    elif status == 404 and exc.param == "model":
        code = "model_not_found"
    return error_response(
        protocol,
        status,
        exc.message,
        param=exc.param,
        openai_code=code,
        headers={"X-Kiro-Failure": FailureKind.INVALID_REQUEST.value, "x-should-retry": "false"},
    )


def failure_headers(exc: UpstreamError) -> dict[str, str]:
    """The internal X-Kiro-Failure family plus the retry advice every SDK honours."""
    shape = FAILURE_SHAPES[exc.kind]
    headers = {"X-Kiro-Failure": exc.kind.value}
    retry_after = exc.retry_after if exc.retry_after is not None else shape.default_retry_after
    if retry_after is not None:
        seconds = max(1, math.ceil(retry_after))
        headers["retry-after"] = str(seconds)
        headers["X-Kiro-Retry-After"] = str(seconds)
    if exc.reset_at:
        headers["X-Kiro-Reset-At"] = str(int(exc.reset_at))
    if shape.should_retry is not None:
        headers["x-should-retry"] = "true" if shape.should_retry else "false"
    return headers


def failure_response(protocol: Protocol, exc: UpstreamError) -> Response:
    """An upstream failure before the first byte, in the client's shape, with the router's headers."""
    shape = FAILURE_SHAPES[exc.kind]
    status = shape.anthropic_status if protocol is Protocol.ANTHROPIC else shape.openai_status
    code = shape.openai_code
    if exc.kind is FailureKind.INVALID_REQUEST and exc.status == 404:  # Kiro's INVALID_MODEL_ID
        status = 404 if protocol is Protocol.OPENAI else 400
        code = "model_not_found"
    return error_response(
        protocol,
        status,
        exc.message,
        openai_type=shape.openai_type,
        openai_code=code,
        headers=failure_headers(exc),
    )

"""Gateway error responses: every failure leaves the gateway in the client's own shape.

The shapes themselves are `shared/client_errors.py`. Upstream failures also carry the internal
`X-Kiro-Failure` header family the router decides on (docs/architecture.md).
"""

from __future__ import annotations

import time

import orjson
from starlette.responses import Response

from shared import contract
from shared.client_errors import FAILURE_SHAPES, Protocol, error_payload, retry_headers
from shared.errors import FailureKind, InvalidRequestError, UpstreamError
from shared.logging import request_id_var

__all__ = [
    "Protocol",
    "error_response",
    "failure_response",
    "invalid_request_response",
    "unauthorized_response",
]


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
        protocol,
        status,
        message,
        param=param,
        error_type=openai_type if protocol is Protocol.OPENAI else None,
        code=openai_code,
        request_id=request_id_var.get(),
    )
    return JSONBytesResponse(body, status_code=status, headers=headers)


def unauthorized_response(protocol: Protocol, message: str) -> Response:
    """401 in the client's shape for a caller without a valid key (SDKs do not retry it)."""
    return error_response(protocol, 401, message, openai_code="invalid_api_key")


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
        headers={contract.FAILURE: FailureKind.INVALID_REQUEST.value, "x-should-retry": "false"},
    )


def header_text(text: str, limit: int = 300) -> str:
    """`text` as a safe header value: printable ASCII on one line, clipped."""
    return "".join(c if " " <= c <= "~" else "?" for c in text[:limit])


def retry_after_of(exc: UpstreamError) -> float | None:
    """Seconds until a retry can work: Kiro's Retry-After, else its quota reset, else the kind's default."""
    if exc.retry_after is not None:
        return exc.retry_after
    if exc.reset_at and exc.reset_at > time.time():
        return exc.reset_at - time.time()
    return FAILURE_SHAPES[exc.kind].default_retry_after


def failure_headers(exc: UpstreamError) -> dict[str, str]:
    """The internal X-Kiro-Failure family plus the retry advice every SDK honours."""
    shape = FAILURE_SHAPES[exc.kind]
    headers = {contract.FAILURE: exc.kind.value, contract.FAILURE_REASON: header_text(exc.message)}
    retry_after = retry_after_of(exc)
    if retry_after is not None:
        headers.update(retry_headers(retry_after))
        headers[contract.RETRY_AFTER] = headers["retry-after"]
    if exc.reset_at:
        headers[contract.RESET_AT] = str(int(exc.reset_at))
    if shape.should_retry is not None:
        headers["x-should-retry"] = "true" if shape.should_retry else "false"
    return headers


def failure_response(protocol: Protocol, exc: UpstreamError) -> Response:
    """An upstream failure before the first byte, in the client's shape, with the router's headers."""
    shape = FAILURE_SHAPES[exc.kind]
    status = shape.status(protocol)
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

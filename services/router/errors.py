"""Errors the router answers itself, in the client's own shape (Anthropic or OpenAI)."""

from __future__ import annotations

import orjson
from fastapi import Request
from starlette.responses import Response

from shared.client_errors import Protocol, error_payload, retry_headers, sse_error
from shared.client_errors import protocol_of as protocol_for
from shared.errors import KiroStackError


def protocol_of(request: Request) -> Protocol:
    """Which error shape the caller understands (`shared.client_errors.protocol_of`)."""
    return protocol_for(request.url.path, request.headers)


class ClientError(KiroStackError):
    """An answer the router gives without a gateway (auth, limits, no account, bad body).

    `kind` overrides the Anthropic error type the status implies; `code` is OpenAI's `code`.
    """

    def __init__(
        self,
        status: int,
        message: str,
        *,
        kind: str | None = None,
        code: str | None = None,
        retry_after: float | None = None,
        should_retry: bool | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.kind = kind
        self.code = code
        self.retry_after = retry_after
        self.should_retry = should_retry


def unavailable_status(protocol: Protocol, *, retryable: bool) -> tuple[int, str]:
    """Status and Anthropic error type for "cannot serve now": OpenAI's 503; for Anthropic's SDKs, which
    know no 503, 529 `overloaded_error` when waiting helps and 500 `api_error` otherwise (client-compat §5
    item 28)."""
    if protocol is Protocol.ANTHROPIC:
        return (529, "overloaded_error") if retryable else (500, "api_error")
    return 503, "overloaded_error" if retryable else "api_error"


def error_response(protocol: Protocol, error: ClientError, request_id: str) -> Response:
    headers = {"request-id": request_id, "x-request-id": request_id}
    if error.retry_after is not None:
        headers.update(retry_headers(error.retry_after))
    if error.should_retry is not None:
        headers["x-should-retry"] = "true" if error.should_retry else "false"
    if error.status == 401 and protocol is Protocol.ANTHROPIC:
        headers["www-authenticate"] = 'Bearer realm="kiro-stack"'
    body = orjson.dumps(
        error_payload(
            protocol,
            error.status,
            error.message,
            error_type=error.kind if protocol is Protocol.ANTHROPIC else None,
            code=error.code,
        )
    )
    return Response(body, status_code=error.status, headers=headers, media_type="application/json")


def in_band_error(protocol: Protocol, message: str) -> bytes:
    """The SSE event that ends a stream whose upstream failed after the first byte."""
    return sse_error(protocol, error_payload(protocol, 502, message))

"""Errors the router answers itself, in the client's own shape (Anthropic or OpenAI)."""

from __future__ import annotations

import enum

import orjson
from fastapi import Request
from starlette.responses import Response

_ANTHROPIC_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    502: "api_error",
    503: "api_error",
    529: "overloaded_error",
}
_OPENAI_TYPES = {
    400: "invalid_request_error",
    401: "invalid_request_error",
    403: "permission_error",
    404: "invalid_request_error",
    429: "rate_limit_exceeded",
    500: "server_error",
    502: "server_error",
    503: "service_unavailable",
}


class Protocol(enum.StrEnum):
    ANTHROPIC = "anthropic"
    OPENAI = "openai"


def protocol_of(request: Request) -> Protocol:
    """Which error shape the caller understands: by path, and for shared paths by Anthropic headers."""
    path = request.url.path
    if path.startswith("/v1/messages"):
        return Protocol.ANTHROPIC
    if path.startswith("/v1/chat") or path.startswith("/v1/completions"):
        return Protocol.OPENAI
    headers = request.headers
    if "anthropic-version" in headers or "x-api-key" in headers:
        return Protocol.ANTHROPIC
    return Protocol.OPENAI


class ClientError(Exception):
    """An answer the router gives without a gateway (auth, limits, no account, bad body)."""

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


def error_body(protocol: Protocol, status: int, message: str, kind: str | None, code: str | None) -> bytes:
    if protocol is Protocol.ANTHROPIC:
        error_type = kind or _ANTHROPIC_TYPES.get(status, "api_error")
        return orjson.dumps({"type": "error", "error": {"type": error_type, "message": message}})
    error_type = kind or _OPENAI_TYPES.get(status, "server_error")
    return orjson.dumps({"error": {"message": message, "type": error_type, "param": None, "code": code}})


def error_response(protocol: Protocol, error: ClientError, request_id: str) -> Response:
    headers = {"request-id": request_id, "x-request-id": request_id}
    if error.retry_after is not None:
        seconds = max(1, round(error.retry_after))
        headers["retry-after"] = str(seconds)
        headers["retry-after-ms"] = str(max(1, int(error.retry_after * 1000)))
    if error.should_retry is not None:
        headers["x-should-retry"] = "true" if error.should_retry else "false"
    if error.status == 401 and protocol is Protocol.ANTHROPIC:
        headers["www-authenticate"] = 'Bearer realm="kiro-stack"'
    body = error_body(protocol, error.status, error.message, error.kind, error.code)
    return Response(body, status_code=error.status, headers=headers, media_type="application/json")


def in_band_error(protocol: Protocol, message: str) -> bytes:
    """The SSE event that ends a stream whose upstream failed after the first byte."""
    if protocol is Protocol.ANTHROPIC:
        data = orjson.dumps({"type": "error", "error": {"type": "api_error", "message": message}})
        return b"event: error\ndata: " + data + b"\n\n"
    data = orjson.dumps({"error": {"message": message, "type": "server_error", "param": None, "code": None}})
    return b"data: " + data + b"\n\n"

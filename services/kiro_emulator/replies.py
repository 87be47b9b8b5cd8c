"""Error answers as Kiro (and AWS SSO OIDC) give them, and the fault presets that produce them."""

from __future__ import annotations

from typing import Any

import orjson
from aiohttp import web

from shared.errors import KiroStackError

JsonBody = dict[str, Any]


class ErrorAnswer(KiroStackError):
    """Stop handling a request and answer with this status and JSON body."""

    def __init__(
        self,
        status: int,
        body: object,
        *,
        error_type: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(f"{status} {body}")
        self.status = status
        self.body = body
        self.headers = dict(headers or {})
        if error_type:
            self.headers.setdefault("x-amzn-errortype", error_type)

    def response(self) -> web.Response:
        return json_response(self.body, status=self.status, headers=self.headers)


def json_response(body: object, *, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(
        body=orjson.dumps(body), status=status, content_type="application/json", headers=headers
    )


def kiro_error(status: int, message: str, reason: str | None = None, *, error_type: str) -> ErrorAnswer:
    body: JsonBody = {"message": message}
    if reason:
        body["reason"] = reason
    return ErrorAnswer(status, body, error_type=error_type)


def oauth_error(status: int, error: str, description: str) -> ErrorAnswer:
    error_type = {
        "invalid_grant": "InvalidGrantException",
        "invalid_client": "InvalidClientException",
        "authorization_pending": "AuthorizationPendingException",
        "slow_down": "SlowDownException",
        "expired_token": "ExpiredTokenException",
        "access_denied": "AccessDeniedException",
        "unsupported_grant_type": "UnsupportedGrantTypeException",
    }.get(error, "InvalidRequestException")
    return ErrorAnswer(status, {"error": error, "error_description": description}, error_type=error_type)


def invalid_token() -> ErrorAnswer:
    return kiro_error(
        403, "The bearer token included in the request is invalid.", error_type="AccessDeniedException"
    )


def suspended() -> ErrorAnswer:
    return kiro_error(
        403,
        "Your account has been temporarily suspended. Please contact support to appeal.",
        error_type="AccessDeniedException",
    )


def quota_exhausted() -> ErrorAnswer:
    return kiro_error(
        402,
        "You have reached the limit.",
        "MONTHLY_REQUEST_COUNT",
        error_type="ServiceQuotaExceededException",
    )


def throttled() -> ErrorAnswer:
    return kiro_error(
        429, "Too many requests, please wait before trying again.", error_type="ThrottlingException"
    )


def improperly_formed() -> ErrorAnswer:
    return kiro_error(400, "Improperly formed request.", error_type="ValidationException")


def too_long() -> ErrorAnswer:
    return kiro_error(
        400, "Input is too long.", "CONTENT_LENGTH_EXCEEDS_THRESHOLD", error_type="ValidationException"
    )


def invalid_model() -> ErrorAnswer:
    return kiro_error(
        400,
        "Invalid model. Please select a different model to continue.",
        "INVALID_MODEL_ID",
        error_type="ValidationException",
    )


def server_error() -> ErrorAnswer:
    return kiro_error(
        500,
        "Encountered an unexpected error when processing the request, please try again.",
        error_type="InternalServerException",
    )


def unavailable() -> ErrorAnswer:
    return kiro_error(503, "Service is temporarily unavailable.", error_type="ServiceUnavailableException")


def invalid_grant() -> ErrorAnswer:
    return oauth_error(400, "invalid_grant", "Invalid refresh token provided")


def bad_directive(detail: str) -> ErrorAnswer:
    return kiro_error(
        400,
        f"Emulator directive is not valid: {detail}",
        "EMULATOR_DIRECTIVE",
        error_type="ValidationException",
    )


#: `kind` of a fault rule → the answer it produces
FAULT_PRESETS = {
    "invalid_token": invalid_token,
    "suspended": suspended,
    "quota": quota_exhausted,
    "throttled": throttled,
    "bad_request": improperly_formed,
    "too_long": too_long,
    "invalid_model": invalid_model,
    "server_error": server_error,
    "unavailable": unavailable,
    "invalid_grant": invalid_grant,
}

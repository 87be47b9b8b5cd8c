"""One exception hierarchy for the whole stack, and the failure vocabulary that crosses services."""

from __future__ import annotations

import enum


class FailureKind(enum.StrEnum):
    """Why a call to Kiro failed, as the gateway reports it to the router (`X-Kiro-Failure`)."""

    INVALID_REQUEST = "invalid_request"  # the client's fault: never fail over
    INVALID_TOKEN = "invalid_token"  # refresh, cool down, fail over
    QUOTA_EXHAUSTED = "quota_exhausted"  # out of the pool until the usage reset
    THROTTLED = "throttled"  # cool down >= the reset hint, fail over
    SUSPENDED = "suspended"  # disable with reason, alert
    UPSTREAM_ERROR = "upstream_error"  # transient: retry with budget, then fail over
    UNAVAILABLE = "unavailable"  # no usable account: 503 + Retry-After

    @property
    def is_account_level(self) -> bool:
        """True when another account may succeed where this one failed."""
        return self not in (FailureKind.INVALID_REQUEST, FailureKind.UNAVAILABLE)


class KiroStackError(Exception):
    """Base of every error this project raises on purpose."""


class ConfigError(KiroStackError):
    """The configuration cannot work (missing secret in production, bad URL, ...)."""


class EventStreamError(KiroStackError):
    """The AWS event-stream bytes are corrupt, truncated or oversized."""


class InvalidRequestError(KiroStackError):
    """A client request that cannot be served as sent (maps to HTTP 400)."""

    def __init__(self, message: str, *, param: str | None = None, status: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.param = param
        self.status = status


class ImageFetchError(InvalidRequestError):
    """An image URL the gateway refused (`refused`: the SSRF guard, size, type) or failed to fetch (400)."""

    def __init__(self, message: str, *, refused: bool, param: str | None = None) -> None:
        super().__init__(message, param=param)
        self.refused = refused


class UpstreamError(KiroStackError):
    """Kiro (or an auth endpoint) answered with a failure, classified by `kind`."""

    def __init__(
        self,
        kind: FailureKind,
        message: str,
        *,
        status: int | None = None,
        reason: str | None = None,
        retry_after: float | None = None,
        reset_at: float | None = None,
    ) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.status = status
        self.reason = reason
        self.retry_after = retry_after
        self.reset_at = reset_at

    def __repr__(self) -> str:
        return f"UpstreamError({self.kind.value}, status={self.status}, reason={self.reason!r})"


class AuthRefreshError(UpstreamError):
    """A token refresh failed; `kind` is INVALID_TOKEN when re-login is needed."""

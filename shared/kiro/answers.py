"""What Kiro's auth and account calls answered, read into plain values (kiro-protocol.md §1.1, §10).

Sans-I/O: each parser takes a status and a decoded body (`json_or_text`) and returns a value or raises
the classified error (`AuthRefreshError`, `UpstreamError`, the device-flow outcomes).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import orjson

from shared.errors import AuthRefreshError, FailureKind, KiroStackError, UpstreamError

DEFAULT_EXPIRES_IN = 3600  # seconds, when a token answer has no expiresIn (kiro-protocol.md §10)


@dataclass(frozen=True)
class TokenSet:
    """A token answer. `refresh_token` is '' when the endpoint did not rotate it."""

    access_token: str
    refresh_token: str
    expires_in: float
    profile_arn: str = ""

    def expires_at(self, now: float | None = None) -> float:
        return (time.time() if now is None else now) + self.expires_in


@dataclass(frozen=True)
class ClientRegistration:
    """An OIDC public client (Builder ID / IdC device login)."""

    client_id: str
    client_secret: str
    expires_at: float


@dataclass(frozen=True)
class DeviceAuthorization:
    """What the user needs to finish a device login, and how to poll for it."""

    device_code: str
    user_code: str
    verification_uri: str
    verification_uri_complete: str
    interval: float
    expires_in: float


@dataclass(frozen=True)
class UsageLimits:
    """The fields of getUsageLimits we keep (kiro-protocol.md §1.1)."""

    subscription_title: str
    current: float
    limit: float
    reset_at: float
    email: str = ""

    @property
    def exhausted(self) -> bool:
        return self.limit > 0 and self.current >= self.limit


class DeviceFlowPending(KiroStackError):
    """The user has not finished the device login yet; `slow_down` asks for a longer interval."""

    def __init__(self, slow_down: bool = False) -> None:
        super().__init__("slow_down" if slow_down else "authorization_pending")
        self.slow_down = slow_down


class DeviceFlowFailed(KiroStackError):
    """The device login ended without tokens (`expired_token`, `access_denied`, ...)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def json_or_text(raw: bytes) -> Any:
    """An answer body for the parsers: its JSON, or its first 500 characters when it is not JSON."""
    try:
        return orjson.loads(raw) if raw else {}
    except orjson.JSONDecodeError:
        return raw.decode(errors="replace")[:500]


def _error_code(body: Any) -> str:
    if not isinstance(body, dict):
        return ""
    error = body.get("error")
    if isinstance(error, dict):
        error = error.get("reason") or error.get("code") or error.get("type")
    for value in (error, body.get("reason"), body.get("__type"), body.get("code")):
        if isinstance(value, str) and value:
            return value.rsplit("#", 1)[-1]
    return ""


def _error_message(body: Any) -> str:
    if isinstance(body, dict):
        for name in ("error_description", "message", "Message", "errorDescription"):
            value = body.get(name)
            if isinstance(value, str) and value:
                return value[:300]
    return ""


def classify_status(status: int) -> FailureKind:
    """The failure kind of an auth or account call that answered `status`."""
    if status == 429:
        return FailureKind.THROTTLED
    if status == 408 or status >= 500:
        return FailureKind.UPSTREAM_ERROR
    return FailureKind.INVALID_TOKEN


def parse_token(status: int, body: Any) -> TokenSet:
    """A refresh answer; raises AuthRefreshError (INVALID_TOKEN = re-login needed, others = transient)."""
    if status != 200:
        kind = classify_status(status)
        code = _error_code(body) or f"http_{status}"
        detail = _error_message(body)
        message = f"token endpoint answered {status} {code}" + (f": {detail}" if detail else "")
        raise AuthRefreshError(kind, message, status=status, reason=code)
    if not isinstance(body, dict):
        raise AuthRefreshError(FailureKind.UPSTREAM_ERROR, "token answer is not a JSON object", status=status)
    access = body.get("accessToken") or body.get("access_token")
    if not isinstance(access, str) or not access:
        raise AuthRefreshError(FailureKind.UPSTREAM_ERROR, "token answer has no accessToken", status=status)
    refresh = body.get("refreshToken") or body.get("refresh_token") or ""
    expires_in = body.get("expiresIn", body.get("expires_in"))
    try:
        expires = float(expires_in) if expires_in is not None else DEFAULT_EXPIRES_IN
    except (TypeError, ValueError):
        expires = DEFAULT_EXPIRES_IN
    profile_arn = body.get("profileArn") or ""
    return TokenSet(access, str(refresh), expires, str(profile_arn))


def parse_registration(status: int, body: Any) -> ClientRegistration:
    """A client registration answer; raises UpstreamError on failure."""
    if status != 200 or not isinstance(body, dict) or not body.get("clientId"):
        raise UpstreamError(
            classify_status(status), f"client registration failed ({status} {_error_code(body)})"
        )
    return ClientRegistration(
        str(body["clientId"]),
        str(body.get("clientSecret", "")),
        float(body.get("clientSecretExpiresAt") or 0),
    )


def parse_device_authorization(status: int, body: Any) -> DeviceAuthorization:
    """A device authorization answer; raises UpstreamError on failure."""
    if status != 200 or not isinstance(body, dict) or not body.get("deviceCode"):
        kind = classify_status(status)
        raise UpstreamError(kind, f"device authorization failed ({status} {_error_code(body)})")
    uri = str(body.get("verificationUri", ""))
    return DeviceAuthorization(
        device_code=str(body["deviceCode"]),
        user_code=str(body.get("userCode", "")),
        verification_uri=uri,
        verification_uri_complete=str(body.get("verificationUriComplete") or uri),
        interval=float(body.get("interval") or 5),
        expires_in=float(body.get("expiresIn") or 600),
    )


def parse_device_token(status: int, body: Any) -> TokenSet:
    """A device-grant poll answer: tokens, or DeviceFlowPending / DeviceFlowFailed / AuthRefreshError."""
    if status == 200:
        return parse_token(status, body)
    code = _error_code(body)
    if code in ("authorization_pending", "AuthorizationPendingException"):
        raise DeviceFlowPending()
    if code in ("slow_down", "SlowDownException"):
        raise DeviceFlowPending(slow_down=True)
    if code in ("expired_token", "ExpiredTokenException", "access_denied", "AccessDeniedException"):
        raise DeviceFlowFailed("expired" if "xpired" in code else "denied")
    return parse_token(status, body)


def parse_usage_limits(status: int, body: Any) -> UsageLimits:
    """getUsageLimits answer → the snapshot we store; raises UpstreamError on failure."""
    if status != 200 or not isinstance(body, dict):
        kind = classify_status(status)
        raise UpstreamError(kind, f"getUsageLimits answered {status} {_error_code(body)}", status=status)
    title = ""
    info = body.get("subscriptionInfo")
    if isinstance(info, dict):
        title = str(info.get("subscriptionTitle") or info.get("type") or "")
    current = limit = 0.0
    reset_at = _number(body.get("nextDateReset"))
    breakdown = body.get("usageBreakdownList")
    for item in breakdown if isinstance(breakdown, list) else []:
        if not isinstance(item, dict):
            continue
        current += _number(item.get("currentUsageWithPrecision", item.get("currentUsage")))
        limit += _number(item.get("usageLimitWithPrecision", item.get("usageLimit")))
        reset_at = reset_at or _number(item.get("nextDateReset"))
        trial = item.get("freeTrialInfo")
        if isinstance(trial, dict) and str(trial.get("freeTrialStatus", "")).upper() == "ACTIVE":
            current += _number(trial.get("currentUsageWithPrecision", trial.get("currentUsage")))
            limit += _number(trial.get("usageLimitWithPrecision", trial.get("usageLimit")))
    user = body.get("userInfo")
    email = str(user.get("email") or "") if isinstance(user, dict) else ""
    return UsageLimits(title, current, limit, reset_at, email)


def parse_models(status: int, body: Any) -> list[dict[str, Any]]:
    """ListAvailableModels answer → the model entries; raises UpstreamError on failure."""
    if status != 200 or not isinstance(body, dict) or not isinstance(body.get("models"), list):
        raise UpstreamError(classify_status(status), f"ListAvailableModels answered {status}", status=status)
    return [m for m in body["models"] if isinstance(m, dict) and m.get("modelId")]


def _number(value: Any) -> float:
    try:
        return float(value) if value is not None else 0.0
    except (TypeError, ValueError):
        return 0.0

"""Kiro authentication and account calls: social + OIDC refresh, client registration, device grant,
getUsageLimits and ListAvailableModels (kiro-protocol.md §1, §10).

Request builders and response parsers are sans-I/O (they take and return plain values); `AuthHttp` is
the thin aiohttp caller with timeouts and an optional (per-call) proxy.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import orjson

from shared.accounts.model import AuthKind
from shared.errors import AuthRefreshError, FailureKind, KiroStackError, UpstreamError
from shared.kiro.endpoints import KiroEndpoints

DEFAULT_EXPIRES_IN = 3600  # seconds, when a token answer has no expiresIn (kiro-protocol.md §10)
BUILDER_ID_START_URL = "https://view.awsapps.com/start"
OIDC_SCOPES = (
    "codewhisperer:completions",
    "codewhisperer:analysis",
    "codewhisperer:conversations",
    "codewhisperer:transformations",
    "codewhisperer:taskassist",
)
DEVICE_CODE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"


@dataclass(frozen=True)
class AuthRequest:
    """One HTTP call to make: JSON body (`json`) or form body (`form`)."""

    method: str
    url: str
    headers: dict[str, str] = field(default_factory=dict)
    json: dict[str, Any] | None = None
    form: dict[str, str] | None = None


@dataclass(frozen=True)
class RawAnswer:
    """An HTTP answer as it came: status, headers (lower-case names), body bytes."""

    status: int
    headers: dict[str, str]
    body: bytes
    truncated: bool = False


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


@dataclass(frozen=True)
class KiroAuth:
    """Builds the auth and account requests for one set of endpoints and client versions."""

    endpoints: KiroEndpoints
    ide_version: str = "0.8.0"
    sdk_version: str = "1.0.34"

    def _ua(self, machine_id: str) -> str:
        return f"KiroIDE-{self.ide_version}-{machine_id}" if machine_id else f"KiroIDE-{self.ide_version}"

    def _api_headers(self, access_token: str, auth_kind: AuthKind, machine_id: str) -> dict[str, str]:
        agent = f"aws-sdk-js/{self.sdk_version} {self._ua(machine_id)}"
        headers = {
            "Authorization": f"Bearer {access_token}",
            "Accept": "application/json",
            "User-Agent": f"{agent} ua/2.1 os/linux lang/js md/nodejs "
            f"api/codewhispererruntime#{self.sdk_version}",
            "x-amz-user-agent": agent,
        }
        if auth_kind is AuthKind.EXTERNAL_IDP:
            headers["TokenType"] = "EXTERNAL_IDP"
        return headers

    def social_refresh(
        self, refresh_token: str, region: str = "us-east-1", machine_id: str = ""
    ) -> AuthRequest:
        """Kiro desktop (Google / GitHub) refresh (§10.1)."""
        return AuthRequest(
            "POST",
            self.endpoints.social_refresh(region),
            {"Content-Type": "application/json", "User-Agent": self._ua(machine_id)},
            json={"refreshToken": refresh_token},
        )

    def oidc_refresh(
        self, client_id: str, client_secret: str, refresh_token: str, region: str
    ) -> AuthRequest:
        """AWS SSO OIDC refresh for Builder ID / IAM Identity Center (§10.2, camelCase JSON)."""
        body = {
            "clientId": client_id,
            "clientSecret": client_secret,
            "refreshToken": refresh_token,
            "grantType": "refresh_token",
        }
        return AuthRequest(
            "POST", self.endpoints.oidc_token(region), {"Content-Type": "application/json"}, body
        )

    def external_idp_refresh(self, token_endpoint: str, client_id: str, refresh_token: str) -> AuthRequest:
        """Enterprise (Entra / Okta) refresh: form-encoded OAuth at the stored token endpoint (§10.2)."""
        form = {"grant_type": "refresh_token", "client_id": client_id, "refresh_token": refresh_token}
        return AuthRequest("POST", token_endpoint, {"Accept": "application/json"}, form=form)

    def register_client(self, region: str, start_url: str = BUILDER_ID_START_URL) -> AuthRequest:
        """Register a public OIDC client for a device login (§10.3 step 1)."""
        body = {
            "clientName": "Kiro",
            "clientType": "public",
            "scopes": list(OIDC_SCOPES),
            "grantTypes": [DEVICE_CODE_GRANT, "refresh_token"],
            "issuerUrl": start_url,
        }
        return AuthRequest(
            "POST", self.endpoints.oidc_register(region), {"Content-Type": "application/json"}, body
        )

    def device_authorization(
        self, registration: ClientRegistration, region: str, start_url: str = BUILDER_ID_START_URL
    ) -> AuthRequest:
        """Start a device login (§10.3 step 2)."""
        body = {
            "clientId": registration.client_id,
            "clientSecret": registration.client_secret,
            "startUrl": start_url,
        }
        url = self.endpoints.oidc_device_authorization(region)
        return AuthRequest("POST", url, {"Content-Type": "application/json"}, body)

    def device_token(self, client_id: str, client_secret: str, device_code: str, region: str) -> AuthRequest:
        """Poll for the tokens of a device login (§10.3 step 3)."""
        body = {
            "clientId": client_id,
            "clientSecret": client_secret,
            "grantType": DEVICE_CODE_GRANT,
            "deviceCode": device_code,
        }
        return AuthRequest(
            "POST", self.endpoints.oidc_token(region), {"Content-Type": "application/json"}, body
        )

    def usage_limits(
        self,
        access_token: str,
        *,
        api_region: str,
        profile_arn: str = "",
        auth_kind: AuthKind = AuthKind.SOCIAL,
        machine_id: str = "",
    ) -> AuthRequest:
        """getUsageLimits (§1.1)."""
        url = self.endpoints.usage_limits(api_region, profile_arn or None)
        return AuthRequest("GET", url, self._api_headers(access_token, auth_kind, machine_id))

    def chat(
        self,
        access_token: str,
        url: str,
        body: dict[str, Any],
        *,
        amz_target: str,
        auth_kind: AuthKind = AuthKind.SOCIAL,
        machine_id: str = "",
    ) -> AuthRequest:
        """generateAssistantResponse (§2, §3) for the account check, with the headers the gateway sends;
        the answer is an event stream. `amz_target` "" = no `X-Amz-Target` header."""
        headers = self._api_headers(access_token, auth_kind, machine_id)
        headers |= {
            "Content-Type": "application/json",
            "Accept": "application/vnd.amazon.eventstream",
            "x-amzn-codewhisperer-optout": "true",
            "x-amzn-kiro-agent-mode": "vibe",
            "amz-sdk-invocation-id": str(uuid.uuid4()),
            "amz-sdk-request": "attempt=1; max=1",
            "User-Agent": f"aws-sdk-js/{self.sdk_version} ua/2.1 os/linux lang/js md/nodejs "
            f"api/codewhispererstreaming#{self.sdk_version} m/E {self._ua(machine_id)}",
        }
        if amz_target:
            headers["X-Amz-Target"] = amz_target
        return AuthRequest("POST", url, headers, json=body)

    def list_models(
        self,
        access_token: str,
        *,
        api_region: str,
        profile_arn: str = "",
        auth_kind: AuthKind = AuthKind.SOCIAL,
        machine_id: str = "",
        endpoint: str = "amazonq",
    ) -> AuthRequest:
        """ListAvailableModels (§1) on the host that goes with chat `endpoint`."""
        url = self.endpoints.models(api_region, profile_arn or None, endpoint)
        return AuthRequest("GET", url, self._api_headers(access_token, auth_kind, machine_id))


# --- parsers ---------------------------------------------------------------------------------------


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


# --- the caller ------------------------------------------------------------------------------------


class AuthHttp:
    """Sends `AuthRequest`s with aiohttp: one timeout for the whole call, an optional proxy per call.

    HTTP(S) proxies go through the shared session; SOCKS proxies need their own connector, so one
    session per SOCKS proxy URL is kept and closed with `close()` (call it in the owner's lifespan).
    """

    def __init__(
        self, session: aiohttp.ClientSession, *, timeout: float = 30.0, proxy_url: str | None = None
    ):
        self._session = session
        self._timeout = aiohttp.ClientTimeout(total=timeout, connect=min(timeout, 10.0))
        self._default_proxy = proxy_url or None
        self._socks: dict[str, aiohttp.ClientSession] = {}

    async def send(self, request: AuthRequest, *, proxy_url: str | None = None) -> tuple[int, Any]:
        """Status and parsed JSON body (raw text when not JSON). Raises UpstreamError on network failure."""
        answer = await self.exchange(request, proxy_url=proxy_url)
        return answer.status, json_or_text(answer.body)

    async def exchange(
        self, request: AuthRequest, *, proxy_url: str | None = None, max_bytes: int | None = None
    ) -> RawAnswer:
        """Status, headers and body bytes (at most `max_bytes`, then `truncated`); UpstreamError on
        network failure."""
        proxy = proxy_url or self._default_proxy
        session, http_proxy = self._session, None
        if proxy and proxy.startswith("socks"):
            session = self._socks_session(proxy)
        elif proxy:
            http_proxy = proxy
        kwargs: dict[str, Any] = {"headers": request.headers, "timeout": self._timeout, "proxy": http_proxy}
        if request.json is not None:
            kwargs["data"] = orjson.dumps(request.json)
        elif request.form is not None:
            kwargs["data"] = request.form
        truncated = False
        try:
            async with session.request(request.method, request.url, **kwargs) as response:
                if max_bytes is None:
                    raw = await response.read()
                else:
                    raw, truncated = await _read_capped(response.content, max_bytes)
                headers = {name.lower(): value for name, value in response.headers.items()}
                return RawAnswer(response.status, headers, raw, truncated)
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            raise UpstreamError(
                FailureKind.UPSTREAM_ERROR, f"{type(exc).__name__} calling {_host(request.url)}"
            ) from exc

    def _socks_session(self, proxy: str) -> aiohttp.ClientSession:
        session = self._socks.get(proxy)
        if session is None:
            from aiohttp_socks import ProxyConnector

            session = aiohttp.ClientSession(connector=ProxyConnector.from_url(proxy))
            self._socks[proxy] = session
        return session

    async def close(self) -> None:
        """Close the per-proxy sessions (the shared session belongs to the caller)."""
        for session in self._socks.values():
            await session.close()
        self._socks.clear()


async def _read_capped(content: aiohttp.StreamReader, max_bytes: int) -> tuple[bytes, bool]:
    """At most `max_bytes` of a body, and whether more was left unread."""
    raw = bytearray()
    while len(raw) < max_bytes:
        chunk = await content.read(max_bytes - len(raw))
        if not chunk:
            return bytes(raw), False
        raw += chunk
    return bytes(raw), not content.at_eof()


def _host(url: str) -> str:
    return url.split("/", 3)[2] if url.count("/") >= 2 else url

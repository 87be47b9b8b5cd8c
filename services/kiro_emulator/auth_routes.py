"""Token endpoints: Kiro social refresh (§10.1), AWS SSO OIDC token / register / device (§10.2–§10.3), and an
enterprise identity provider's OAuth token endpoint for external-IdP logins (§10.2, form-encoded)."""

from __future__ import annotations

import secrets
import time
from typing import Any

from aiohttp import web

from services.kiro_emulator import replies
from services.kiro_emulator.accounts import Account
from services.kiro_emulator.context import NOT_JSON, SETTINGS, STATE, Exchange, parse_json
from services.kiro_emulator.replies import ErrorAnswer, json_response, oauth_error
from services.kiro_emulator.state import DeviceFlow, EmulatorState
from shared.kiro.endpoints import EMULATOR_PATHS

DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
CLIENT_LIFETIME = 90 * 86400
#: polling sooner than this share of `interval` after the previous poll answers slow_down
SLOW_DOWN_SHARE = 0.8


def _str(body: Any, key: str) -> str | None:
    value = body.get(key) if isinstance(body, dict) else None
    return value if isinstance(value, str) and value else None


def _current_owner(state: EmulatorState, refresh_token: str) -> Account | None:
    """The account whose current refresh token this is (None for unknown or rotated-away tokens)."""
    account, current = state.account_by_refresh(refresh_token)
    return account if current else None


def _issue(state: EmulatorState, account: Account) -> tuple[str, str]:
    """A new access token, and the refresh token to hand back (a new one when the account rotates)."""
    access = state.issue_access_token(account)
    refresh = state.rotate_refresh_token(account) if account.rotate_refresh else account.refresh_token
    return access, refresh


async def social_refresh(request: web.Request) -> web.Response:
    state = request.app[STATE]
    raw = await request.read()
    body = parse_json(raw)
    token = _str(body, "refreshToken")
    owner, _ = state.account_by_refresh(token) if token else (None, False)
    exchange = Exchange(request, "social_refresh", owner, body, raw)
    try:
        await exchange.apply_fault()
        if token is None:
            raise replies.improperly_formed()
        # looked up after the fault delay: a concurrent refresh may have rotated the token away meanwhile
        account = _current_owner(state, token)
        if account is None or account.auth_kind != "social":
            raise replies.kiro_error(
                401, "Invalid refresh token provided.", error_type="AccessDeniedException"
            )
    except ErrorAnswer as answer:
        return exchange.error(answer)
    access, refresh = _issue(state, account)
    exchange.finish(200)
    return json_response(
        {
            "accessToken": access,
            "refreshToken": refresh,
            "expiresIn": account.expires_in,
            "profileArn": account.profile_arn,
        }
    )


async def oidc_token(request: web.Request) -> web.Response:
    state = request.app[STATE]
    raw = await request.read()
    body = parse_json(raw)
    grant = _str(body, "grantType")
    account: Account | None = None
    flow: DeviceFlow | None = None
    if grant == "refresh_token":
        token = _str(body, "refreshToken")
        account, _ = state.account_by_refresh(token) if token else (None, False)
    elif grant == DEVICE_GRANT:
        code = _str(body, "deviceCode")
        flow = state.device_flows.get(code) if code else None
        account = state.accounts.get(flow.account) if flow and flow.account else None
    exchange = Exchange(request, "oidc_token", account, body, raw)
    try:
        await exchange.apply_fault()
        if not isinstance(body, dict):
            raise oauth_error(400, "invalid_request", "Request body must be a JSON object (camelCase keys)")
        client_id, client_secret = _str(body, "clientId"), _str(body, "clientSecret")
        if client_id is None or client_secret is None:
            raise oauth_error(400, "invalid_request", "clientId and clientSecret are required")
        if grant == "refresh_token":
            # looked up after the fault delay: a concurrent refresh may have rotated the token away meanwhile
            current = _current_owner(state, _str(body, "refreshToken") or "")
            answer = _refresh_grant(state, body, current, client_id, client_secret)
        elif grant == DEVICE_GRANT:
            answer = _device_grant(state, body, flow, client_id, client_secret)
        else:
            raise oauth_error(400, "unsupported_grant_type", f"Unsupported grant type: {grant}")
    except ErrorAnswer as error:
        return exchange.error(error)
    exchange.finish(200)
    return json_response(answer)


def _invalid_client() -> ErrorAnswer:
    return oauth_error(401, "invalid_client", "Invalid client credentials")


def _refresh_grant(
    state: EmulatorState, body: dict[str, Any], account: Account | None, client_id: str, client_secret: str
) -> dict[str, Any]:
    if _str(body, "refreshToken") is None:
        raise oauth_error(400, "invalid_request", "refreshToken is required")
    if account is None or account.auth_kind != "idc":
        raise replies.invalid_grant()
    if client_id != account.client_id or not secrets.compare_digest(client_secret, account.client_secret):
        raise _invalid_client()
    access, refresh = _issue(state, account)
    return {
        "accessToken": access,
        "refreshToken": refresh,
        "expiresIn": account.expires_in,
        "tokenType": "Bearer",
    }


def _device_grant(
    state: EmulatorState, body: dict[str, Any], flow: DeviceFlow | None, client_id: str, client_secret: str
) -> dict[str, Any]:
    if _str(body, "deviceCode") is None:
        raise oauth_error(400, "invalid_request", "deviceCode is required")
    if flow is None or flow.status == "used":
        raise oauth_error(400, "invalid_grant", "Invalid device code provided")
    if client_id != flow.client_id or not secrets.compare_digest(client_secret, flow.client_secret):
        raise _invalid_client()
    now = time.time()
    if flow.status == "denied":
        raise oauth_error(400, "access_denied", "The user denied the authorization request")
    if now >= flow.expires_at:
        raise oauth_error(400, "expired_token", "Device code has expired")
    if flow.status == "pending":
        too_soon = flow.last_poll and now - flow.last_poll < flow.interval * SLOW_DOWN_SHARE
        flow.last_poll = now
        if too_soon:
            raise oauth_error(400, "slow_down", "Client is polling too quickly")
        raise oauth_error(400, "authorization_pending", "Authorization is still pending")
    account = state.accounts.get(flow.account or "")
    if account is None:
        raise oauth_error(400, "invalid_grant", "The approved account no longer exists")
    flow.status = "used"
    access, refresh = _issue(state, account)
    return {
        "accessToken": access,
        "refreshToken": refresh,
        "expiresIn": account.expires_in,
        "tokenType": "Bearer",
    }


async def oidc_register(request: web.Request) -> web.Response:
    state = request.app[STATE]
    raw = await request.read()
    body = parse_json(raw)
    exchange = Exchange(request, "oidc_register", None, body, raw)
    try:
        await exchange.apply_fault()
        if _str(body, "clientName") is None or _str(body, "clientType") is None:
            raise oauth_error(400, "invalid_request", "clientName and clientType are required")
    except ErrorAnswer as answer:
        return exchange.error(answer)
    client = state.register_client(CLIENT_LIFETIME)
    exchange.finish(200)
    return json_response(
        {
            "clientId": client.client_id,
            "clientSecret": client.client_secret,
            "clientIdIssuedAt": int(time.time()),
            "clientSecretExpiresAt": int(client.expires_at),
        }
    )


async def oidc_device(request: web.Request) -> web.Response:
    state = request.app[STATE]
    settings = request.app[SETTINGS]
    raw = await request.read()
    body = parse_json(raw)
    exchange = Exchange(request, "oidc_device", None, body, raw)
    try:
        await exchange.apply_fault()
        client_id, client_secret = _str(body, "clientId"), _str(body, "clientSecret")
        if client_id is None or client_secret is None or _str(body, "startUrl") is None:
            raise oauth_error(400, "invalid_request", "clientId, clientSecret and startUrl are required")
        client = state.clients.get(client_id)
        if client is None or not state.client_ok(client_id, client_secret):
            raise _invalid_client()
    except ErrorAnswer as answer:
        return exchange.error(answer)
    flow = state.start_device_flow(
        client, interval=settings.emulator_device_interval, expires_in=settings.emulator_device_expires_in
    )
    exchange.finish(200)
    verify = f"{request.url.origin()}/_emulator/device"
    return json_response(
        {
            "deviceCode": flow.device_code,
            "userCode": flow.user_code,
            "verificationUri": verify,
            "verificationUriComplete": f"{verify}?user_code={flow.user_code}",
            "expiresIn": settings.emulator_device_expires_in,
            "interval": flow.interval,
        }
    )


#: where the emulated Entra ID / Okta answers; an external-IdP account stores this URL as its token endpoint
EXTERNAL_IDP_TOKEN_PATH = "/external-idp/oauth2/token"


async def external_idp_token(request: web.Request) -> web.Response:
    """OAuth `grant_type=refresh_token` with `client_id` (and optional `scope`), form-encoded."""
    state = request.app[STATE]
    raw = await request.read()
    form = dict(await request.post()) if request.content_type == "application/x-www-form-urlencoded" else {}
    token = _str(form, "refresh_token")
    owner, _ = state.account_by_refresh(token) if token else (None, False)
    exchange = Exchange(request, "external_idp_token", owner, form or NOT_JSON, raw)
    try:
        await exchange.apply_fault()
        if not form:
            raise oauth_error(400, "invalid_request", "the body must be form-encoded")
        if form.get("grant_type") != "refresh_token" or token is None:
            raise oauth_error(400, "invalid_request", "grant_type=refresh_token and a refresh_token, please")
        account = _current_owner(state, token)
        if account is None or account.auth_kind != "external_idp":
            raise replies.invalid_grant()
        if form.get("client_id") != account.client_id:
            raise _invalid_client()
    except ErrorAnswer as answer:
        return exchange.error(answer)
    access, refresh = _issue(state, account)
    exchange.finish(200)
    return json_response(
        {
            "token_type": "Bearer",
            "access_token": access,
            "refresh_token": refresh,
            "expires_in": account.expires_in,
            "scope": form.get("scope", ""),
        }
    )


def add_routes(app: web.Application) -> None:
    app.router.add_post(EXTERNAL_IDP_TOKEN_PATH, external_idp_token)
    app.router.add_post(EMULATOR_PATHS["social_refresh"], social_refresh)
    app.router.add_post(EMULATOR_PATHS["oidc_token"], oidc_token)
    app.router.add_post(EMULATOR_PATHS["oidc_register"], oidc_register)
    app.router.add_post(EMULATOR_PATHS["oidc_device"], oidc_device)

"""The account check: is this account usable against the real Kiro, and if not, what does Kiro say?

Four steps, each timed and reported `ok` / `failed` / `skipped`, with Kiro's own error when one fails:

1. `token`  — refresh the access token if it needs it (the refresher's own refresh, lock and all);
2. `models` — ListAvailableModels;
3. `usage`  — getUsageLimits (the snapshot is stored, as after a refresh);
4. `chat`   — the smallest valid chat, on each chat route in the configured order until one answers;
   every attempt (route, origin, status, error) is reported.

Without a usable token the other steps are skipped. The result (a plain dict, JSON as stored by
`shared.accounts.checks`) carries the time it ran; `ok` is true when no step failed. Tokens never go
into it.
"""

from __future__ import annotations

import contextlib
import re
import time
from collections.abc import Awaitable
from dataclasses import dataclass, field
from typing import Any, Literal, cast

import orjson

from services.refresher.context import Refresher
from services.refresher.refresh import (
    PARKED_STATES,
    Outcome,
    TransientRefreshError,
    load,
    refresh_when_unlocked,
)
from services.refresher.usage import api_region, models_request, store_usage, usage_request
from shared.accounts.checks import save_check
from shared.accounts.model import Account
from shared.crypto import SecretDecryptError, sha256_hex
from shared.errors import AuthRefreshError, UpstreamError
from shared.kiro.answers import UsageLimits, json_or_text, parse_models, parse_usage_limits
from shared.kiro.auth import AuthRequest
from shared.kiro.endpoint_table import parse_order, parse_origins
from shared.kiro.endpoints import ChatRoute
from shared.kiro.probe import (
    KiroError,
    describe_error,
    probe_chat_body,
    probe_model,
    read_chat_answer,
)
from shared.kiro.transport import RawAnswer

Status = Literal["ok", "failed", "skipped"]

#: the check reads this much of a chat answer at most (a one-word prompt is answered in far less)
CHAT_ANSWER_LIMIT = 64 * 1024
#: `parse_token`'s message: "token endpoint answered 401 invalid_grant: Invalid refresh token provided"
_REFRESH_ANSWER = re.compile(r"answered (\d{3}) (\S+?)(?:: (.*))?$")


@dataclass
class Step:
    """One step of a check."""

    name: str
    status: Status = "skipped"
    latency_ms: int = 0
    detail: str = ""
    error: KiroError | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "status": self.status,
            "latency_ms": self.latency_ms,
            "detail": self.detail,
            "error": self.error.as_dict() if self.error else None,
            **self.extra,
        }


class _Timer:
    def __init__(self) -> None:
        self._started = time.perf_counter()

    def ms(self) -> int:
        return round((time.perf_counter() - self._started) * 1000)


async def check_account(r: Refresher, account_id: str, *, source: str = "") -> dict[str, Any] | None:
    """Run the check on one account, store the result and return it (None: no such account)."""
    started_at = time.time()
    whole = _Timer()
    account = await load(r, account_id)
    if account is None:
        return None
    token, account = await _token_step(r, account)
    steps = [token]
    if token.status != "ok" or account is None:
        skipped = "skipped: no usable access token"
        steps += [Step("models", detail=skipped), Step("usage", detail=skipped), Step("chat", detail=skipped)]
    else:
        routes = await chat_routes(r, account)
        models_step, models = await _models_step(r, account, routes[0].name if routes else "amazonq")
        steps += [models_step, await _usage_step(r, account), await _chat_step(r, account, models, routes)]
    result: dict[str, Any] = {
        "account_id": account_id,
        "label": (account.label or account.email) if account else "",
        "ok": all(s.status != "failed" for s in steps),
        "checked_at": started_at,
        "duration_ms": whole.ms(),
        "source": source,
        "steps": [s.as_dict() for s in steps],
    }
    if await r.store.exists(account_id):  # deleted meanwhile: leave nothing behind
        await save_check(r.redis, r.keys, account_id, result)
    return result


async def _token_step(r: Refresher, account: Account) -> tuple[Step, Account | None]:
    step = Step("token")
    timer = _Timer()
    usable = bool(account.access_token_enc) and account.access_expires_at > time.time()
    if account.state in PARKED_STATES and not usable:
        # the refresher leaves parked accounts alone until an operator acts
        step.status, step.detail = "failed", f"account is {account.state.value}: {account.state_reason}"
        step.latency_ms = timer.ms()
        return step, None
    try:
        outcome = await refresh_when_unlocked(r, account.id)
    except TransientRefreshError as exc:
        step.status, step.detail = "failed", "token refresh failed"
        step.error = _refresh_error(exc.__cause__, str(exc))
        step.latency_ms = timer.ms()
        return step, None
    step.latency_ms = timer.ms()
    current = await load(r, account.id)
    if current is None:
        step.status, step.detail = "failed", "the account was deleted"
        return step, None
    if outcome is Outcome.NEEDS_RELOGIN:
        step.status, step.detail = "failed", current.state_reason or "the refresh token was rejected"
        step.error = _refresh_error(None, current.last_refresh_error)
        return step, None
    left = current.access_expires_at - time.time()
    try:
        r.store.access_token(current)
    except SecretDecryptError:
        step.status, step.detail = "failed", "the stored tokens do not decrypt with this KIRO_SECRET_KEY"
        return step, None
    if not current.access_token_enc or left <= 0:
        step.status = "failed"
        step.detail = (
            f"no usable access token (refresh {outcome.value}: {current.state_reason or 'no reason'})"
        )
        return step, None
    step.status = "ok"
    minutes = int(left // 60)
    refreshed = outcome is Outcome.REFRESHED
    step.detail = (
        f"refreshed, valid for {minutes} min" if refreshed else f"valid for {minutes} min, not refreshed"
    )
    step.extra["refreshed"] = refreshed
    return step, current


def _refresh_error(cause: BaseException | None, message: str) -> KiroError:
    """Kiro's (or the OIDC service's) answer to a failed refresh."""
    if isinstance(cause, AuthRefreshError) and cause.status:
        return KiroError(cause.status, "", cause.reason or "", _after_colon(cause.message))
    match = _REFRESH_ANSWER.search(message)
    if match:
        return KiroError(int(match[1]), "", match[2], match[3] or "")
    return KiroError(0, "", "", message[:500])


def _after_colon(message: str) -> str:
    match = _REFRESH_ANSWER.search(message)
    return (match[3] or "") if match else message


async def _call(
    r: Refresher, account: Account, request: AuthRequest, *, limit: int | None = None
) -> RawAnswer:
    return await r.http.exchange(request, proxy_url=r.store.proxy_url(account) or None, max_bytes=limit)


def _network_error(exc: UpstreamError) -> KiroError:
    return KiroError(0, "network", "", exc.message)


async def _models_step(r: Refresher, account: Account, endpoint: str) -> tuple[Step, list[dict[str, Any]]]:
    """ListAvailableModels on the host of the first chat route, as the gateways ask it."""
    step = Step("models")
    request = models_request(r, account, endpoint)
    timer = _Timer()
    try:
        answer = await _call(r, account, request)
    except UpstreamError as exc:
        step.latency_ms, step.status, step.error = timer.ms(), "failed", _network_error(exc)
        return step, []
    step.latency_ms = timer.ms()
    if answer.status != 200:
        step.status, step.error = "failed", describe_error(answer.status, answer.headers, answer.body)
        return step, []
    try:
        models = parse_models(answer.status, json_or_text(answer.body))
    except UpstreamError:
        step.status, step.error = "failed", KiroError(200, "", "", "the answer lists no models")
        return step, []
    step.status, step.detail = "ok", f"{len(models)} models"
    step.extra["models"] = [str(m["modelId"]) for m in models]
    return step, models


async def _usage_step(r: Refresher, account: Account) -> Step:
    step = Step("usage")
    request = usage_request(r, account)
    timer = _Timer()
    try:
        answer = await _call(r, account, request)
    except UpstreamError as exc:
        step.latency_ms, step.status, step.error = timer.ms(), "failed", _network_error(exc)
        return step
    step.latency_ms = timer.ms()
    if answer.status != 200:
        step.status, step.error = "failed", describe_error(answer.status, answer.headers, answer.body)
        return step
    try:
        usage = parse_usage_limits(answer.status, json_or_text(answer.body))
    except UpstreamError:
        step.status, step.error = "failed", KiroError(200, "", "", "the answer is not a usage report")
        return step
    await store_usage(r, account, usage)
    step.status, step.detail = "ok", _usage_text(usage)
    step.extra["usage"] = {
        "subscription_title": usage.subscription_title,
        "current": usage.current,
        "limit": usage.limit,
        "reset_at": usage.reset_at,
    }
    return step


def _usage_text(usage: UsageLimits) -> str:
    title = usage.subscription_title or "no subscription title"
    return f"{title}: {usage.current:g} of {usage.limit:g} used" if usage.limit else title


async def _chat_step(
    r: Refresher, account: Account, models: list[dict[str, Any]], routes: tuple[ChatRoute, ...]
) -> Step:
    step = Step("chat")
    model = probe_model(models)
    attempts: list[dict[str, Any]] = []
    step.extra |= {"model": model, "endpoint": None, "origin": None, "attempts": attempts}
    timer = _Timer()
    for route in routes:
        attempt = await _chat_attempt(r, account, route, model)
        attempts.append(attempt)
        if attempt["status"] == "ok":
            step.status = "ok"
            step.extra |= {"endpoint": route.name, "origin": route.origin}
            step.detail = f"{route.name} ({route.origin}) answered {model}"
            break
    else:
        step.status = "failed"
        step.error = KiroError(**attempts[-1]["error"]) if attempts else None
        step.detail = "no chat route answered" if attempts else "no chat endpoint for this API region"
    step.latency_ms = timer.ms()
    return step


async def chat_routes(r: Refresher, account: Account) -> tuple[ChatRoute, ...]:
    """The account's chat routes in the order the gateways use: the panel's endpoint order and origins
    (JSON in `keys.settings()`) over ENDPOINT_ORDER / ENDPOINT_ORIGINS; a stored value that does not
    parse is ignored, as the gateways ignore it."""
    order_raw, origins_raw = await cast(
        Awaitable[list[str | None]],
        r.redis.hmget(r.keys.settings(), ["endpoint_order", "endpoint_origins"]),
    )
    order, origins = r.settings.endpoint_order, r.settings.endpoint_origins
    stored_order, stored_origins = _decoded(order_raw), _decoded(origins_raw)
    with contextlib.suppress(ValueError):  # the environment's value stays; the panel refuses bad ones
        order = parse_order(stored_order) if isinstance(stored_order, str) else order
    with contextlib.suppress(ValueError):
        origins = parse_origins(stored_origins) if isinstance(stored_origins, dict) else origins
    return r.auth.endpoints.chat_routes(api_region(r, account), order, origins)


def _decoded(raw: str | None) -> Any:
    if not raw:
        return None
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None


async def _chat_attempt(r: Refresher, account: Account, route: ChatRoute, model: str) -> dict[str, Any]:
    request = r.auth.chat(
        r.store.access_token(account),
        route.url,
        probe_chat_body(model, route.origin, account.profile_arn),
        amz_target=route.amz_target,
        auth_kind=account.auth_kind,
        machine_id=account.machine_id or sha256_hex(account.id),  # the gateway's fallback too
    )
    attempt: dict[str, Any] = {"endpoint": route.name, "origin": route.origin, "host": _host(route.url)}
    timer = _Timer()
    try:
        answer = await _call(r, account, request, limit=CHAT_ANSWER_LIMIT)
    except UpstreamError as exc:
        return attempt | {
            "status": "failed",
            "latency_ms": timer.ms(),
            "error": _network_error(exc).as_dict(),
        }
    attempt["latency_ms"] = timer.ms()
    if answer.status != 200:
        error = describe_error(answer.status, answer.headers, answer.body)
        return attempt | {"status": "failed", "error": error.as_dict()}
    chat = read_chat_answer(answer.body, complete=not answer.truncated)
    if chat.error is not None:
        return attempt | {"status": "failed", "error": chat.error.as_dict()}
    return attempt | {"status": "ok", "error": None, "answer": chat.text[:80], "credits": chat.credits}


def _host(url: str) -> str:
    return url.split("/", 3)[2] if url.count("/") >= 2 else url

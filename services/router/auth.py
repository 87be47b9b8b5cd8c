"""Client authentication (x-api-key or Authorization: Bearer) and per-key admission."""

from __future__ import annotations

import time
from typing import Annotated

from fastapi import Depends, Request

from services.router.context import AppContext, Ctx
from services.router.errors import ClientError
from services.router.hints import safe_model
from services.router.reqlog import Finished
from services.router.request_ids import request_id
from shared.accounts.pool import Lease, PickMiss
from shared.clientkey_record import Admission, ClientKey
from shared.crypto import sha256_hex
from shared.hot import STARTED
from shared.http_auth import presented_key

_NO_RETRY_AFTER = 120.0  # SDKs ignore longer retry-after values; say so instead of letting them spin


async def require_client_key(request: Request, ctx: Ctx) -> ClientKey:
    """FastAPI dependency: a known, enabled, unexpired client key, else 401/403 in the client's shape."""
    key = await ctx.client_keys.authenticate(_required_key(request, ctx))
    if key is None:
        ctx.metrics.key_rejections.labels("invalid").inc()
        raise ClientError(401, "invalid API key", code="invalid_api_key")
    if not key.enabled:
        ctx.metrics.key_rejections.labels("disabled").inc()
        error = ClientError(403, "this API key is disabled", code="api_key_disabled")
        await _log_refusal(ctx, request, key, error, route=_route_of(request.url.path), model="")
        raise error
    if key.expired(time.time()):
        ctx.metrics.key_rejections.labels("expired").inc()
        error = _expired(key)
        await _log_refusal(ctx, request, key, error, route=_route_of(request.url.path), model="")
        raise error
    return key


async def require_key_before_body(request: Request, ctx: AppContext) -> str:
    """The presented key once it is known to exist and be enabled, judged from the headers alone.

    A key remembered in `ctx.known_keys` costs no Redis call (admission follows with the pick, in the
    one call the admitted path makes); any other key is looked up before a byte of body is read, so an
    unauthenticated client cannot make the router read, hold or parse its body.
    """
    plain = _required_key(request, ctx)
    digest = sha256_hex(plain)
    if ctx.known_keys.known(digest):
        return plain
    await require_client_key(request, ctx)
    ctx.known_keys.remember(digest)
    return plain


async def authorize_and_pick(
    request: Request, ctx: AppContext, route: str, model: str, conversation: str | None
) -> tuple[ClientKey, str, Lease | PickMiss]:
    """Admit one request and, once admitted, pick its first account: one Redis call for both.

    Admission checks the key, its expiry, model list, budgets, concurrency cap and RPM; a refused request
    takes no account. Returns the key, the request's in-flight entry (freed when the request ends) and
    the pick.
    A known key's refusal is logged in the request log; an unknown key's only counted (a flood of bad
    keys must not push real requests out of the log).
    """
    plain = _required_key(request, ctx)
    start = time.perf_counter()
    key, verdict, picked = await ctx.client_keys.authorize_and_pick(plain, model, ctx.pool, conversation)
    try:
        admitted = _admitted(ctx, key, verdict, model)
    except ClientError as error:
        if key is None:
            ctx.known_keys.forget(sha256_hex(plain))
        else:
            await _log_refusal(ctx, request, key, error, route=route, model=model)
        raise
    assert picked is not None  # an admitted request always carries its pick
    ctx.metrics.pick_seconds.observe(time.perf_counter() - start)
    return admitted, verdict.request_id, picked


async def _log_refusal(
    ctx: AppContext, request: Request, key: ClientKey, error: ClientError, *, route: str, model: str
) -> None:
    started: float = request.scope.get(STARTED, time.perf_counter())
    done = Finished(
        route=route,
        model=safe_model(model),
        key=key,
        request_id=request_id(request),
        status=error.status,
        outcome="refused",
        reason=error.code or "",
        duration_ms=(time.perf_counter() - started) * 1000,
    )
    await ctx.request_log.append(done)


def _route_of(path: str) -> str:
    """The request log's route name of a client path."""
    if path.endswith("/count_tokens"):
        return "count_tokens"
    if path.endswith("/v1/messages"):
        return "messages"
    if path.endswith("/v1/chat/completions"):
        return "chat_completions"
    if path.endswith("/v1/responses"):
        return "responses"
    return "models"


def _required_key(request: Request, ctx: AppContext) -> str:
    plain = presented_key(request.headers)
    if not plain:
        ctx.metrics.key_rejections.labels("missing").inc()
        raise ClientError(
            401, "missing API key: send x-api-key or Authorization: Bearer", code="invalid_api_key"
        )
    return plain


def _admitted(ctx: AppContext, key: ClientKey | None, verdict: Admission, model: str) -> ClientKey:
    """The key when the verdict admits it, else the refusal in the client's shape."""
    if key is None:
        ctx.metrics.key_rejections.labels("invalid").inc()
        raise ClientError(401, "invalid API key", code="invalid_api_key")
    if verdict.ok:
        return key
    ctx.metrics.key_rejections.labels(verdict.verdict).inc()
    if verdict.verdict == "disabled":
        raise ClientError(403, "this API key is disabled", code="api_key_disabled")
    if verdict.verdict == "expired":
        raise _expired(key)
    if verdict.verdict == "model":
        raise ClientError(403, f"this API key may not use model {model!r}", code="model_not_allowed")
    if verdict.verdict == "concurrency":
        raise ClientError(
            429,
            f"concurrency limit: this API key allows {key.max_concurrency} requests at a time",
            code="rate_limit_exceeded",
            retry_after=verdict.retry_after,
        )
    if verdict.verdict == "credits":
        raise ClientError(
            429,
            f"the monthly credit budget of this API key ({key.monthly_credits} credits) is used up until "
            f"{_utc(time.time() + verdict.retry_after)}",
            code="insufficient_quota",
            retry_after=verdict.retry_after,
            should_retry=verdict.retry_after <= _NO_RETRY_AFTER,
        )
    if verdict.verdict == "rpm":
        raise ClientError(
            429,
            f"rate limit: this API key allows {key.rpm} requests per minute",
            code="rate_limit_exceeded",
            retry_after=verdict.retry_after,
        )
    raise ClientError(
        429,
        f"the daily token budget of this API key ({key.daily_tokens}) is used up until 00:00 UTC",
        code="insufficient_quota",
        retry_after=verdict.retry_after,
        should_retry=verdict.retry_after <= _NO_RETRY_AFTER,
    )


def _expired(key: ClientKey) -> ClientError:
    return ClientError(401, f"this API key expired at {_utc(key.expires_at)}", code="api_key_expired")


def _utc(unix: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(round(unix)))


#: route parameter type: `key: AuthorizedKey`
AuthorizedKey = Annotated[ClientKey, Depends(require_client_key)]

"""What follows a new access token: usage limits (quota), pool state, and the models cache."""

from __future__ import annotations

import asyncio
import logging
import time

import orjson

from services.refresher.context import Refresher
from shared.accounts.model import Account, AccountState
from shared.accounts.store import MalformedAccountError
from shared.errors import UpstreamError
from shared.kiro.answers import UsageLimits, parse_models, parse_usage_limits
from shared.kiro.auth import AuthRequest
from shared.kiro.models import encode_catalogue, model_infos
from shared.logging import log_fields

log = logging.getLogger(__name__)

DEFAULT_EXHAUSTED_SECONDS = 3600.0  # out of quota without a reset date: look again in an hour
#: States a fresh token (and a non-exhausted quota) moves into the pool.
ACTIVATE_FROM = frozenset({AccountState.PENDING, AccountState.NEEDS_RELOGIN, AccountState.EXHAUSTED})


async def after_token(r: Refresher, account_id: str, *, after_quota: bool = False) -> None:
    """Fetch usage limits, store them, and put the account in (or out of) the pool accordingly.

    `after_quota`: Kiro just said "out of quota"; the account stays out until the end of that verdict
    even if getUsageLimits (which can lag) still shows quota left.
    """
    try:
        account = await r.store.get(account_id)
    except MalformedAccountError:
        return
    if account is None or not account.access_token_enc:
        return
    usage: UsageLimits | None = None
    try:
        usage = await fetch_usage(r, account)
    except UpstreamError as exc:
        r.metrics.usage_fetches.labels(exc.kind.value).inc()
        log.warning("usage limits unavailable", extra=log_fields(account=account_id, error=exc.message))
        # the schedule asks again later the more calls failed in a row (`usage_retry_after`)
        failed = {"usage_failed_at": repr(time.time())}
        await r.store.set_fields(account_id, failed, increment="usage_failures")
    else:
        r.metrics.usage_fetches.labels("ok").inc()
        await store_usage(r, account, usage)
    await apply_state(r, account, usage, after_quota=after_quota)
    if r.settings.refresh_models:
        await refresh_models_cache(r, account)


async def fetch_usage(r: Refresher, account: Account) -> UsageLimits:
    """getUsageLimits for the account (raises UpstreamError)."""
    request = usage_request(r, account)
    status, body = await r.http.send(request, proxy_url=r.store.proxy_url(account) or None)
    return parse_usage_limits(status, body)


async def store_usage(r: Refresher, account: Account, usage: UsageLimits) -> None:
    """The usage snapshot on the account record and as JSON under `keys.usage_limits(id)`."""
    now = time.time()
    values = {
        "subscription_title": usage.subscription_title,
        "usage_current": repr(usage.current),
        "usage_limit": repr(usage.limit),
        "usage_reset_at": repr(usage.reset_at),
        "usage_updated_at": repr(now),
        "usage_failures": "0",
    }
    if usage.email and not account.email:
        values["email"] = usage.email
    if await r.store.set_fields(account.id, values):
        snapshot = {
            "subscription_title": usage.subscription_title,
            "current": usage.current,
            "limit": usage.limit,
            "reset_at": usage.reset_at,
            "updated_at": now,
        }
        await r.redis.set(r.keys.usage_limits(account.id), orjson.dumps(snapshot))


async def apply_state(
    r: Refresher, account: Account, usage: UsageLimits | None, *, after_quota: bool = False
) -> None:
    """Exhausted → out of the pool until the reset; otherwise a waiting account enters the pool."""
    if not account.enabled:
        if account.state is not AccountState.DISABLED:
            await r.states.disable(account.id, "disabled by an operator")
        return
    if usage is not None and usage.exhausted:
        until = usage.reset_at if usage.reset_at > time.time() else time.time() + DEFAULT_EXHAUSTED_SECONDS
        await r.states.exhaust(account.id, until, f"quota used: {usage.current:g}/{usage.limit:g}")
        return
    if account.state is AccountState.EXHAUSTED and (
        usage is None or (after_quota and account.exhausted_until > time.time())
    ):
        return  # still out of quota as far as we know
    if account.state in ACTIVATE_FROM:
        await r.states.activate(account.id)


async def refresh_models_cache(r: Refresher, account: Account) -> bool:
    """ListAvailableModels for the account, cached under `keys.account_models(id)` for the gateways.

    Entitlements differ between accounts, so each has its own list. The value expires after
    `models_cache_ttl_seconds`: with the refresher gone, gateways stop trusting it and ask Kiro
    themselves. A failed call leaves the last list in place (until it expires). True when written.
    """
    request = models_request(r, account)
    try:
        raw = parse_models(*await r.http.send(request, proxy_url=r.store.proxy_url(account) or None))
    except UpstreamError as exc:
        log.info("models list unavailable", extra=log_fields(account=account.id, error=exc.message))
        return False
    models = model_infos(raw)
    if not models:
        return False
    payload = encode_catalogue(models, time.time())
    await r.redis.set(r.keys.account_models(account.id), payload, ex=r.settings.models_cache_ttl_seconds)
    return True


async def renew_stale_model_lists(r: Refresher, account_ids: list[str], gate: asyncio.Semaphore) -> int:
    """For the periodic run: renew each list that is missing or past half its lifetime; how many renewed.

    An account's token lives longer than the run's interval, so most runs refresh no token and the list
    written after the last refresh would expire; this keeps it in place while the account is usable.
    """
    pipe = r.redis.pipeline(transaction=False)
    for account_id in account_ids:
        pipe.ttl(r.keys.account_models(account_id))
    ttls = await pipe.execute()
    stale = [
        a for a, ttl in zip(account_ids, ttls, strict=True) if ttl < r.settings.models_cache_ttl_seconds / 2
    ]

    async def one(account_id: str) -> bool:
        async with gate:
            try:
                account = await r.store.get(account_id)
            except MalformedAccountError:
                return False
            if account is None or not account.enabled or not account.access_token_enc:
                return False
            return await refresh_models_cache(r, account)

    return sum(await asyncio.gather(*(one(account_id) for account_id in stale)))


def api_region(r: Refresher, account: Account) -> str:
    """The account's chat API region (its own setting, else its profile ARN's, else the default)."""
    return r.auth.endpoints.api_region(account.profile_arn or None, account.api_region or None)


def usage_request(r: Refresher, account: Account) -> AuthRequest:
    """getUsageLimits for the account (the schedule, a token refresh and the account check send it)."""
    return r.auth.usage_limits(
        r.store.access_token(account),
        api_region=api_region(r, account),
        profile_arn=account.profile_arn,
        auth_kind=account.auth_kind,
        machine_id=account.machine_id,
    )


def models_request(r: Refresher, account: Account, endpoint: str = "amazonq") -> AuthRequest:
    """ListAvailableModels for the account, on the host that goes with chat `endpoint`."""
    return r.auth.list_models(
        r.store.access_token(account),
        endpoint=endpoint,
        api_region=api_region(r, account),
        profile_arn=account.profile_arn,
        auth_kind=account.auth_kind,
        machine_id=account.machine_id,
    )

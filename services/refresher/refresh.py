"""Rotation-safe refresh of one account (kiro-protocol.md §10), and what follows a refresh.

Order of a refresh: cheap freshness check → per-account lock → re-read the record inside the lock →
freshness check again (another worker may have just refreshed) → upstream call → compare-and-set write
on `token_version`. A worker whose lock expired while it was paused finds the version moved on and
drops its result, so a stale token is never written.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from redis.exceptions import RedisError

from services.refresher.context import Refresher
from services.refresher.resilient import REDIS_DOWN
from services.refresher.usage import after_token
from shared.accounts import history
from shared.accounts.history import RefreshTrigger
from shared.accounts.model import Account, AccountState, AuthKind
from shared.accounts.state import INVALID_TOKEN_REASON
from shared.accounts.store import MalformedAccountError
from shared.accounts.tokens import WriteResult
from shared.crypto import SecretDecryptError
from shared.errors import AuthRefreshError, FailureKind, KiroStackError, UpstreamError
from shared.kiro.answers import TokenSet, parse_token
from shared.logging import log_fields
from shared.tasks import Backoff

log = logging.getLogger(__name__)

#: how long a refresh holds on to an upstream answer while Redis is unreachable (see `_write_patiently`)
WRITE_PATIENCE_SECONDS = 60.0

#: how often a refresh waiting for another worker's refresh lock looks again
LOCK_POLL_SECONDS = 0.25

#: States whose accounts the periodic run leaves alone (an operator or a re-login has to act first).
PARKED_STATES = frozenset({AccountState.DISABLED, AccountState.NEEDS_RELOGIN, AccountState.INVALID})


class Outcome(enum.StrEnum):
    REFRESHED = "refreshed"  # new access token stored
    FRESH = "fresh"  # token good enough (or just refreshed by someone else): nothing to do
    LOCKED = "locked"  # another worker holds the account's refresh lock right now
    SUPERSEDED = "superseded"  # someone wrote newer tokens while we refreshed: our result was dropped
    NEEDS_RELOGIN = "needs_relogin"  # the refresh token is dead
    SKIPPED = "skipped"  # missing, malformed, disabled or parked account


class TransientRefreshError(KiroStackError):
    """A refresh failed for a reason that may pass (network, 5xx, throttling): retry later."""


async def load(r: Refresher, account_id: str) -> Account | None:
    """The account, or None when it is gone; a malformed record is flagged INVALID (with the reason)."""
    try:
        return await r.store.get(account_id)
    except MalformedAccountError as exc:
        log.warning("malformed account record", extra=log_fields(account=account_id, reason=str(exc)))
        await r.states.set(account_id, AccountState.INVALID, f"malformed record: {exc}")
        return None


def horizon(r: Refresher) -> float:
    """Tokens expiring before now + this are refreshed: they would not survive until the next run."""
    return r.settings.refresh_interval_seconds + r.settings.refresh_margin_seconds


def is_fresh(r: Refresher, account: Account, *, force: bool, requested_at: float) -> bool:
    """True when no refresh is needed. A forced refresh is satisfied by any refresh done after it was
    requested (or within the grace period), so a burst of triggers costs one upstream call."""
    if not account.access_token_enc:
        return False
    now = time.time()
    if force:
        last = account.last_refresh_at
        return last >= requested_at or now - last < r.settings.force_refresh_grace_seconds
    return account.access_expires_at > now + horizon(r)


async def refresh_account(
    r: Refresher,
    account_id: str,
    *,
    force: bool = False,
    requested_at: float = 0.0,
    trigger: RefreshTrigger | None = None,
) -> Outcome:
    """Refresh one account if it needs it. Raises TransientRefreshError when the caller should retry.

    `trigger` goes into the account's refresh history (default: forced or on demand, after `force`).
    """
    trigger = trigger or (RefreshTrigger.FORCED if force else RefreshTrigger.ON_DEMAND)
    account = await load(r, account_id)
    if account is None:
        return Outcome.SKIPPED
    if account.state in PARKED_STATES and not force:
        return Outcome.SKIPPED
    if not account.refresh_token_enc:
        return Outcome.SKIPPED
    if is_fresh(r, account, force=force, requested_at=requested_at):
        return await _fresh(r, account_id, force=force)
    owner = await r.tokens.acquire_lock(account_id, int(r.settings.refresh_lock_ttl_seconds * 1000))
    if owner is None:
        return Outcome.LOCKED
    try:
        async with _lock_renewed(r, account_id, owner):
            account = await load(r, account_id)  # what the last lock holder left behind
            if account is None:
                return Outcome.SKIPPED
            if is_fresh(r, account, force=force, requested_at=requested_at):
                return await _fresh(r, account_id, force=force)
            try:
                outcome = await _refresh_locked(r, account, trigger)
            except SecretDecryptError as exc:
                # encrypted with another KIRO_SECRET_KEY: no refresh can work until an operator acts
                log.error("account secrets do not decrypt", extra=log_fields(account=account_id))
                await r.states.set(account_id, AccountState.INVALID, str(exc))
                return Outcome.SKIPPED
    finally:
        if not await r.tokens.release_lock(account_id, owner):
            log.warning("refresh lock expired before release", extra=log_fields(account=account_id))
    if outcome is Outcome.REFRESHED:
        await r.states.end_cooldown(account_id, INVALID_TOKEN_REASON)
        await after_token(r, account_id)
    return outcome


async def refresh_when_unlocked(
    r: Refresher,
    account_id: str,
    *,
    force: bool = False,
    requested_at: float = 0.0,
    trigger: RefreshTrigger | None = None,
) -> Outcome:
    """`refresh_account`, waiting up to one lock lifetime while another worker holds the account's lock.

    A live holder finishes and we find the token fresh; a crashed holder stops renewing its lock, which
    lapses within that lifetime, and we refresh. Waiting here rather than through an arq retry keeps a
    forced refresh after a crash within seconds of the lock lapsing, and spends no try.
    """
    deadline = time.monotonic() + r.settings.refresh_lock_ttl_seconds
    while True:
        outcome = await refresh_account(
            r, account_id, force=force, requested_at=requested_at, trigger=trigger
        )
        if outcome is not Outcome.LOCKED or time.monotonic() >= deadline:
            return outcome
        await asyncio.sleep(LOCK_POLL_SECONDS)


async def _fresh(r: Refresher, account_id: str, *, force: bool) -> Outcome:
    """No refresh needed. A forced one (Kiro rejected a token) still ends the rejection's cooldown: the
    stored token is newer than the grace period, so the rejected one was most likely the one before it."""
    if force:
        await r.states.end_cooldown(account_id, INVALID_TOKEN_REASON)
    return Outcome.FRESH


@asynccontextmanager
async def _lock_renewed(r: Refresher, account_id: str, owner: str) -> AsyncIterator[None]:
    """Renew the account's refresh lock every third of its lifetime while the block runs.

    A live holder keeps its lock however slow the upstream is; a crashed one stops renewing and its lock
    lapses within one lifetime, so the next refresh of the account waits at most that long. A holder that
    was stopped (SIGSTOP, a long GC pause) past its lifetime finds the lock gone: its result is then
    dropped by the compare-and-set on `token_version`, never written over a newer token.
    """
    ttl = r.settings.refresh_lock_ttl_seconds

    async def renew() -> None:
        while True:
            await asyncio.sleep(ttl / 3)
            try:
                if not await r.tokens.extend_lock(account_id, owner, int(ttl * 1000)):
                    log.warning("refresh lock lapsed while refreshing", extra=log_fields(account=account_id))
                    return
            except (RedisError, OSError) as exc:
                log.warning("refresh lock not renewed", extra=log_fields(account=account_id, error=repr(exc)))

    renewal = asyncio.create_task(renew())
    try:
        yield
    finally:
        renewal.cancel()
        await asyncio.gather(renewal, return_exceptions=True)


async def _refresh_locked(r: Refresher, account: Account, trigger: RefreshTrigger) -> Outcome:
    refresh_token = r.store.refresh_token(account)
    used_prev = False
    try:
        tokens = await call_refresh(r, account, refresh_token)
    except AuthRefreshError as exc:
        if exc.kind is not FailureKind.INVALID_TOKEN:
            await _record_failure(r, account.id, exc, trigger)
            raise TransientRefreshError(exc.message) from exc
        # Rotated behind our back? A worker whose lock expired may have written a newer token.
        current = await load(r, account.id)
        if current is None:
            return Outcome.SKIPPED
        if current.token_version != account.token_version:
            log.info("refresh token was rotated by another writer", extra=log_fields(account=account.id))
            return Outcome.SUPERSEDED
        prev = r.store.prev_refresh_token(account)
        if not prev:
            return await _needs_relogin(r, account, exc, trigger)
        try:
            tokens = await call_refresh(r, account, prev)
        except AuthRefreshError as again:
            if again.kind is not FailureKind.INVALID_TOKEN:
                await _record_failure(r, account.id, again, trigger)
                raise TransientRefreshError(again.message) from again
            return await _needs_relogin(r, account, exc, trigger)
        refresh_token, used_prev = prev, True
    rotated = tokens.refresh_token if tokens.refresh_token and tokens.refresh_token != refresh_token else None
    if used_prev and rotated is None:
        rotated = refresh_token  # the previous token is the one that works: make it current again
    result = await _write_patiently(r, account, tokens, rotated)
    if not result.written:
        log.warning(
            "dropped a stale refresh result",
            extra=log_fields(account=account.id, expected=account.token_version, stored=result.version),
        )
        return Outcome.SUPERSEDED if result.version >= 0 else Outcome.SKIPPED
    log.info(
        "token refreshed",
        extra=log_fields(account=account.id, version=result.version, rotated=rotated is not None),
    )
    await r.states.notify(account.id, "token_refreshed")
    await history.record(r.redis, r.keys, account.id, history.Refresh("ok", trigger))
    return Outcome.REFRESHED


async def _write_patiently(
    r: Refresher, account: Account, tokens: TokenSet, rotated: str | None
) -> WriteResult:
    """`tokens.write(...)`, retried while Redis is unreachable (for up to `WRITE_PATIENCE_SECONDS`).

    The answer in hand may hold the only copy of a rotated refresh token: dropping it because Redis
    blinked would lose the account. A retry that finds our own write already applied (Redis applied it
    and the reply was lost) counts as written.
    """
    backoff = Backoff(first=0.25, cap=5.0)
    deadline = time.monotonic() + WRITE_PATIENCE_SECONDS
    retried = False
    while True:
        try:
            result = await r.tokens.write(
                account.id,
                expected_version=account.token_version,
                access_token=tokens.access_token,
                access_expires_at=tokens.expires_at(),
                rotated_refresh_token=rotated,
                profile_arn=tokens.profile_arn if tokens.profile_arn != account.profile_arn else "",
            )
        except REDIS_DOWN as exc:
            if time.monotonic() >= deadline:
                log.error("refreshed tokens lost: redis unreachable", extra=log_fields(account=account.id))
                raise
            delay = backoff.next()
            log.warning(
                f"storing refreshed tokens: redis unreachable; retrying in {delay:g} s",
                extra=log_fields(account=account.id, error=repr(exc)),
            )
            retried = True
            await asyncio.sleep(delay)
            continue
        if not result.written and retried and result.version == account.token_version + 1:
            stored = await load(r, account.id)
            if stored is not None and r.store.access_token(stored) == tokens.access_token:
                return WriteResult(True, result.version)
        return result


async def call_refresh(r: Refresher, account: Account, refresh_token: str) -> TokenSet:
    """One upstream refresh for the account's login kind, measured and counted."""
    kind = account.auth_kind
    if kind is AuthKind.SOCIAL:
        request = r.auth.social_refresh(refresh_token, account.auth_region, account.machine_id)
    elif kind is AuthKind.IDC:
        request = r.auth.oidc_refresh(
            account.client_id, r.store.client_secret(account), refresh_token, account.auth_region
        )
    else:
        request = r.auth.external_idp_refresh(
            account.token_endpoint, account.client_id, refresh_token, account.scopes
        )
    started = time.perf_counter()
    result = "ok"
    try:
        status, body = await r.http.send(request, proxy_url=r.store.proxy_url(account) or None)
        return parse_token(status, body)
    except AuthRefreshError as exc:
        result = "invalid_grant" if exc.kind is FailureKind.INVALID_TOKEN else exc.kind.value
        raise
    except UpstreamError as exc:  # the call itself failed (connect, timeout, proxy)
        result = "network_error"
        raise AuthRefreshError(exc.kind, exc.message) from exc
    finally:
        r.metrics.refresh_duration.labels(kind.value).observe(time.perf_counter() - started)
        r.metrics.refresh_attempts.labels(kind.value, result).inc()


async def _needs_relogin(
    r: Refresher, account: Account, exc: AuthRefreshError, trigger: RefreshTrigger
) -> Outcome:
    reason = f"refresh token rejected, log in again ({exc.message})"
    lapsed = account.client_secret_expires_at
    if account.auth_kind is AuthKind.IDC and 0 < lapsed <= time.time():
        # a new client registration cannot take over the old refresh token: only a new login helps
        when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(lapsed))
        reason = f"the OIDC client registration expired on {when}; sign in again ({exc.message})"
    log.warning("account needs re-login", extra=log_fields(account=account.id, reason=exc.reason))
    await _record_failure(r, account.id, exc, trigger)
    await r.states.needs_relogin(account.id, reason)
    return Outcome.NEEDS_RELOGIN


async def _record_failure(
    r: Refresher, account_id: str, exc: AuthRefreshError, trigger: RefreshTrigger
) -> None:
    """The failed refresh on the record (last error, count) and in the account's history."""
    message = exc.message
    await r.store.set_fields(account_id, {"last_refresh_error": message[:300]}, increment="refresh_failures")
    await history.record(
        r.redis,
        r.keys,
        account_id,
        history.Failure(exc.kind, message, "refresher"),
        history.Refresh(exc.kind.value, trigger, message),
    )

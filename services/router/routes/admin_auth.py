"""Admin authentication: password login (limits in `admin_login_limit`), cookie sessions, bearer key, CSRF.

The password is kept scrypt-hashed in `keys.admin()`, shared by every router. It comes from
ADMIN_PASSWORD, and the admin can change it in the panel (`change_password`, the current one required).
At start a *changed* ADMIN_PASSWORD wins: the hash of the value applied last is kept too, so a restart
with the same value keeps a password set in the panel, while a new value replaces it and a removed one
deletes it. Each change writes a new password generation; a session stores the generation it was opened
under and ends with it (a panel change carries the caller's own session over). Session ids are random,
sent only in an HttpOnly SameSite=Strict cookie and stored as their SHA-256.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import Annotated, Literal, cast

import orjson
from fastapi import Depends, HTTPException, Request, Response

from services.router.context import AppContext, get_ctx
from services.router.routes import admin_login_limit
from shared.crypto import constant_time_equals, hash_password, sha256_hex, verify_password
from shared.http_auth import bearer_token
from shared.logging import log_fields

log = logging.getLogger(__name__)

#: route parameter type: the app context, injected
Ctx = Annotated[AppContext, Depends(get_ctx)]

COOKIE = "ks_admin"
CSRF_HEADER = "X-Requested-With"
SESSION_TTL_SECONDS = 12 * 3600
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_PASSWORD_FIELD = "password_hash"
_GENERATION_FIELD = "password_generation"
#: scrypt hash of the ADMIN_PASSWORD value applied last (never the value): only a different one overrides
_APPLIED_FIELD = "env_password_hash"
_SCOPE_KEY = "kiro.admin"


@dataclass(frozen=True)
class Admin:
    """Who is calling the admin API: a panel session or a script with the bearer key."""

    via: Literal["session", "api_key"]


def _unauthorized(message: str) -> HTTPException:
    return HTTPException(401, message, headers={"WWW-Authenticate": 'Bearer realm="kiro-stack-admin"'})


def _client_address(request: Request) -> str:
    # Only the socket peer: X-Forwarded-For is client-controlled and would let an attacker reset the limit.
    return request.client.host if request.client else "unknown"


def _is_https(request: Request) -> bool:
    return request.url.scheme == "https" or request.headers.get("x-forwarded-proto", "").lower() == "https"


async def _session_valid(ctx: AppContext, session_id: str) -> bool:
    """The session exists and was opened under the password stored now (not an older or removed one)."""
    pipe = ctx.redis.pipeline(transaction=False)
    pipe.get(ctx.keys.admin_session(sha256_hex(session_id)))
    pipe.hget(ctx.keys.admin(), _GENERATION_FIELD)
    record, generation = await pipe.execute()
    if not record:
        return False
    try:
        opened_under = orjson.loads(record).get("generation", "")
    except (orjson.JSONDecodeError, AttributeError):
        return False
    return isinstance(opened_under, str) and opened_under == (generation or "")


def _check_same_origin(request: Request) -> None:
    """Cookie-authenticated writes must come from the panel's own scripts (CSRF guard)."""
    if not request.headers.get(CSRF_HEADER):
        raise HTTPException(403, f"cookie-authenticated changes need the {CSRF_HEADER} header")
    origin = request.headers.get("origin")
    if origin:
        hosts = {request.headers.get("host", ""), request.headers.get("x-forwarded-host", "")}
        if origin.split("://", 1)[-1] not in hosts - {""}:
            raise HTTPException(403, "cross-origin request refused")


async def require_admin(request: Request, ctx: Ctx) -> Admin:
    """FastAPI dependency: the caller is the admin (bearer key or session cookie), else 401/403.

    `AdminRoute` calls it before reading the body; the answer is kept in the request scope, so the
    dependency FastAPI solves afterwards does not ask Redis again.
    """
    known = request.scope.get(_SCOPE_KEY)
    if isinstance(known, Admin):
        return known
    admin = await _authenticate(request, ctx)
    request.scope[_SCOPE_KEY] = admin
    return admin


async def _authenticate(request: Request, ctx: AppContext) -> Admin:
    token = bearer_token(request.headers.get("authorization", ""))
    if token:
        expected = ctx.settings.secret("admin_api_key")
        if expected and constant_time_equals(token, expected):
            return Admin("api_key")
        raise _unauthorized("invalid admin API key")
    session_id = request.cookies.get(COOKIE, "")
    if not session_id or not await _session_valid(ctx, session_id):
        raise _unauthorized("sign in to the admin panel or send Authorization: Bearer <ADMIN_API_KEY>")
    if request.method not in _SAFE_METHODS:
        _check_same_origin(request)
    return Admin("session")


def _session_record(client: str, generation: str) -> bytes:
    return orjson.dumps({"created_at": time.time(), "client": client, "generation": generation})


async def _apply_configured(ctx: AppContext, configured: str) -> str:
    """Store ADMIN_PASSWORD's hash ('' removes it) as the password and as the value applied last, under a
    new generation, which ends every session; the stored hash."""
    generation = secrets.token_urlsafe(16)
    key = ctx.keys.admin()
    pipe = ctx.redis.pipeline(transaction=True)
    if configured:
        stored = await asyncio.to_thread(hash_password, configured)
        pipe.hset(
            key, mapping={_PASSWORD_FIELD: stored, _APPLIED_FIELD: stored, _GENERATION_FIELD: generation}
        )
    else:
        stored = ""
        pipe.hdel(key, _PASSWORD_FIELD, _APPLIED_FIELD)
        pipe.hset(key, _GENERATION_FIELD, generation)
    await pipe.execute()
    return stored


async def ensure_password(ctx: AppContext) -> None:
    """Apply ADMIN_PASSWORD when it differs from the value applied last; call once at start.

    A password changed in the panel stays while ADMIN_PASSWORD keeps its value; a new value replaces it and
    a removed one deletes it, either ending every panel session (they carry the generation they were
    opened under).
    """
    configured = ctx.settings.secret("admin_password")
    key = ctx.keys.admin()
    fields = ctx.redis.hmget(key, [_PASSWORD_FIELD, _APPLIED_FIELD])
    stored, applied = await cast(Awaitable[list[str | None]], fields)
    # routers from before the panel could change the password recorded no applied value: the stored one was it
    last = applied or stored or ""
    if configured and last:
        unchanged = await asyncio.to_thread(verify_password, configured, last)
    else:
        unchanged = not configured and not last
    if unchanged:
        if configured and not applied:
            await cast(Awaitable[int], ctx.redis.hset(key, _APPLIED_FIELD, last))
        return
    await _apply_configured(ctx, configured)
    if not last:  # the first one: no password or session to end
        log.info("admin password set from ADMIN_PASSWORD", extra=log_fields(admin_password="set"))
        return
    log.warning(
        "admin password set from ADMIN_PASSWORD (its stored hash replaced, every admin session ended)",
        extra=log_fields(admin_password="changed" if configured else "removed"),
    )


async def _stored_hash(ctx: AppContext) -> str:
    """The password hash in Redis (ADMIN_PASSWORD's again if Redis lost it); 503 when there is none.

    Only read, no scrypt: a password check reserves its attempt before it costs CPU.
    """
    stored = await cast(Awaitable[str | None], ctx.redis.hget(ctx.keys.admin(), _PASSWORD_FIELD))
    configured = ctx.settings.secret("admin_password")
    if not stored and configured:
        stored = await _apply_configured(ctx, configured)
    if not stored:
        raise HTTPException(503, "no admin password is configured: set ADMIN_PASSWORD and restart the router")
    return stored


async def _check_password(ctx: AppContext, client: str, password: str, refused: HTTPException) -> None:
    """Verify `password` as one attempt of `client` counted by the login limits; raises `refused` or 429."""
    stored = await _stored_hash(ctx)
    reservation = await admin_login_limit.reserve(ctx, client)
    # scrypt takes tens of milliseconds of CPU: off the event loop, so streams keep flowing
    if not await asyncio.to_thread(verify_password, password, stored):
        raise refused  # the reservation stays counted as a failure
    await admin_login_limit.release(ctx, reservation)


async def login(ctx: AppContext, request: Request, response: Response, password: str) -> None:
    """Check the password (limits in `admin_login_limit`) and set the session cookie; raises 401/429/503."""
    client = _client_address(request)
    await _check_password(ctx, client, password, _unauthorized("wrong password"))
    generation = await cast(Awaitable[str | None], ctx.redis.hget(ctx.keys.admin(), _GENERATION_FIELD))
    session_id = secrets.token_urlsafe(32)
    record = _session_record(client, generation or "")
    await ctx.redis.set(ctx.keys.admin_session(sha256_hex(session_id)), record, ex=SESSION_TTL_SECONDS)
    response.set_cookie(
        COOKIE,
        session_id,
        max_age=SESSION_TTL_SECONDS,
        path="/admin",
        httponly=True,
        samesite="strict",
        secure=_is_https(request),
    )


async def change_password(ctx: AppContext, request: Request, admin: Admin, current: str, new: str) -> None:
    """Replace the password; every session but the caller's ends. Raises 400/403/429/503.

    The current password is checked like a login (counted by the same limits), so this cannot be used to
    guess it. The new hash, its generation and the caller's session moved to that generation are written
    in one transaction: the caller's next request never sees the gap. ADMIN_PASSWORD is not touched; the
    stored hash of its value stays, so only a different value overrides this password at a restart.
    """
    minimum = ctx.settings.min_admin_password_length
    if len(new) < minimum:
        raise HTTPException(
            400, f"the new password needs at least {minimum} characters (the rule for ADMIN_PASSWORD)"
        )
    client = _client_address(request)
    await _check_password(ctx, client, current, HTTPException(403, "the current password is wrong"))
    stored = await asyncio.to_thread(hash_password, new)
    generation = secrets.token_urlsafe(16)
    pipe = ctx.redis.pipeline(transaction=True)
    pipe.hset(ctx.keys.admin(), mapping={_PASSWORD_FIELD: stored, _GENERATION_FIELD: generation})
    if admin.via == "session":
        session = ctx.keys.admin_session(sha256_hex(request.cookies.get(COOKIE, "")))
        pipe.set(session, _session_record(client, generation), keepttl=True, xx=True)
    await pipe.execute()
    log.warning(
        "admin password changed in the admin API: every other admin session ended",
        extra=log_fields(client=client, via=admin.via),
    )


async def logout(ctx: AppContext, request: Request, response: Response) -> None:
    """Forget the caller's session (if any) and clear the cookie."""
    session_id = request.cookies.get(COOKIE, "")
    if session_id:
        await ctx.redis.delete(ctx.keys.admin_session(sha256_hex(session_id)))
    response.delete_cookie(COOKIE, path="/admin", httponly=True, samesite="strict", secure=_is_https(request))

"""Admin authentication: password login (limits in `admin_login_limit`), cookie sessions, bearer key, CSRF.

The password comes from ADMIN_PASSWORD and is kept scrypt-hashed in `keys.admin()`; the environment
stays authoritative, so changing or removing ADMIN_PASSWORD and restarting replaces or deletes the stored
hash and ends every session (each stores the password generation it was opened under). Session ids are
random, sent only in an HttpOnly SameSite=Strict cookie and stored as their SHA-256.
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


async def _store_password(ctx: AppContext, configured: str) -> str:
    """Store the hash of `configured` ('' removes it) under a new generation, which ends every session."""
    generation = secrets.token_urlsafe(16)
    key = ctx.keys.admin()
    pipe = ctx.redis.pipeline(transaction=True)
    if configured:
        stored = await asyncio.to_thread(hash_password, configured)
        pipe.hset(key, mapping={_PASSWORD_FIELD: stored, _GENERATION_FIELD: generation})
    else:
        stored = ""
        pipe.hdel(key, _PASSWORD_FIELD)
        pipe.hset(key, _GENERATION_FIELD, generation)
    await pipe.execute()
    return stored


async def ensure_password(ctx: AppContext) -> None:
    """Make the stored hash follow ADMIN_PASSWORD; call once at start.

    The environment is authoritative: a changed password replaces the hash, a removed one deletes it,
    and either ends every panel session (they carry the generation they were opened under).
    """
    configured = ctx.settings.secret("admin_password")
    stored = await cast(Awaitable[str | None], ctx.redis.hget(ctx.keys.admin(), _PASSWORD_FIELD))
    if stored and configured:
        unchanged = await asyncio.to_thread(verify_password, configured, stored)
    else:
        unchanged = not stored and not configured
    if unchanged:
        return
    await _store_password(ctx, configured)
    log.warning(
        "admin password follows ADMIN_PASSWORD: stored hash replaced, every admin session ended",
        extra=log_fields(admin_password="changed" if configured else "removed"),
    )


async def login(ctx: AppContext, request: Request, response: Response, password: str) -> None:
    """Check the password (limits in `admin_login_limit`) and set the session cookie; raises 401/429/503."""
    client = _client_address(request)
    # the hash ensure_password() stored at start (stored again if Redis lost it): no scrypt before the
    # attempt is reserved, so refused attempts cost no CPU
    stored = await cast(Awaitable[str | None], ctx.redis.hget(ctx.keys.admin(), _PASSWORD_FIELD))
    configured = ctx.settings.secret("admin_password")
    if not stored and configured:
        stored = await _store_password(ctx, configured)
    if not stored:
        raise HTTPException(503, "no admin password is configured: set ADMIN_PASSWORD and restart the router")
    reservation = await admin_login_limit.reserve(ctx, client)
    # scrypt takes tens of milliseconds of CPU: off the event loop, so streams keep flowing
    if not await asyncio.to_thread(verify_password, password, stored):
        raise _unauthorized("wrong password")  # the reservation stays counted as a failure
    await admin_login_limit.release(ctx, reservation)
    generation = await cast(Awaitable[str | None], ctx.redis.hget(ctx.keys.admin(), _GENERATION_FIELD))
    session_id = secrets.token_urlsafe(32)
    record = orjson.dumps({"created_at": time.time(), "client": client, "generation": generation or ""})
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


async def logout(ctx: AppContext, request: Request, response: Response) -> None:
    """Forget the caller's session (if any) and clear the cookie."""
    session_id = request.cookies.get(COOKIE, "")
    if session_id:
        await ctx.redis.delete(ctx.keys.admin_session(sha256_hex(session_id)))
    response.delete_cookie(COOKIE, path="/admin", httponly=True, samesite="strict", secure=_is_https(request))

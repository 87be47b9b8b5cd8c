"""Admin API (`/admin/api/...`): login, accounts, client keys, runtime settings, stats, request log.

Every route but login/logout needs the admin (session cookie from the panel, or
`Authorization: Bearer $ADMIN_API_KEY`; see `admin_auth`), checked by `AdminRoute` before any body is
read; bodies are read with a limit (413). The panel's static files are in `admin_ui/`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from services.router.routes import (
    admin_account_detail,
    admin_accounts,
    admin_auth,
    admin_keys,
    admin_requests,
    admin_runway,
)
from services.router.routes.admin_auth import Admin, Ctx, require_admin
from services.router.routes.admin_route import AdminRoute, body_limit, public
from services.router.routes.admin_settings import SettingsUpdate, read_settings, write_settings
from services.router.routes.admin_stats import MAX_HISTORY_DAYS, By, overview

#: the panel (index.html, app.css, js/*.js ES modules), mounted by the router app at /admin
UI_DIR = Path(__file__).resolve().parent.parent / "admin_ui"

router = APIRouter(prefix="/admin/api", tags=["admin"], route_class=AdminRoute)
_protected = APIRouter(dependencies=[Depends(require_admin)], route_class=AdminRoute)


#: the login and password forms hold passwords of at most 1024 characters
LOGIN_BODY_LIMIT = 16 * 1024


class LoginBody(BaseModel):
    model_config = ConfigDict(extra="ignore")

    password: str = Field(min_length=1, max_length=1024, description="ADMIN_PASSWORD")


@router.post("/login", summary="Sign in to the panel: sets the HttpOnly session cookie `ks_admin`")
@public
@body_limit(LOGIN_BODY_LIMIT)
async def login(body: LoginBody, request: Request, response: Response, ctx: Ctx) -> dict[str, Any]:
    await admin_auth.login(ctx, request, response, body.password)
    return {"authenticated": True}


@router.post("/logout", summary="End the panel session")
@public
async def logout(request: Request, response: Response, ctx: Ctx) -> dict[str, Any]:
    await admin_auth.logout(ctx, request, response)
    return {"authenticated": False}


@router.get("/session", summary="Who is signed in (401 when nobody)")
async def session(admin: Annotated[Admin, Depends(require_admin)]) -> dict[str, Any]:
    return {"authenticated": True, "via": admin.via}


class PasswordChange(BaseModel):
    model_config = ConfigDict(extra="ignore")

    current_password: str = Field(min_length=1, max_length=1024, description="the password signed in with")
    new_password: str = Field(min_length=1, max_length=1024, description="at least 12 characters")


@_protected.post(
    "/password", summary="Change the admin password (the current one required); every other session ends"
)
@body_limit(LOGIN_BODY_LIMIT)
async def change_password(
    body: PasswordChange, request: Request, admin: Annotated[Admin, Depends(require_admin)], ctx: Ctx
) -> dict[str, Any]:
    await admin_auth.change_password(ctx, request, admin, body.current_password, body.new_password)
    return {"changed": True}


@_protected.get("/settings", summary="Runtime settings (thinking suffix, aliases, failover attempts, ...)")
async def get_settings(ctx: Ctx) -> dict[str, Any]:
    return await read_settings(ctx)


@_protected.put("/settings", summary="Change runtime settings; only the fields sent are written")
async def put_settings(body: SettingsUpdate, ctx: Ctx) -> dict[str, Any]:
    if not body.model_fields_set:
        raise HTTPException(400, f"nothing to change: send one of {', '.join(SettingsUpdate.model_fields)}")
    try:
        body.check_endpoints()
    except ValueError as exc:
        raise HTTPException(400, str(exc)) from None
    return await write_settings(ctx, body)


@_protected.get(
    "/stats",
    summary="Pool by state, today's totals, per account and per client key, and the last days' history",
)
async def stats(
    ctx: Ctx,
    *,
    days: Annotated[
        int, Query(ge=1, le=MAX_HISTORY_DAYS, description="UTC days of history, today included")
    ] = 1,
    by: Annotated[By, Query(description="history per account or per client key")] = "account",
) -> dict[str, Any]:
    """Today: `day`, `pool` (`{<state>: n, total, soonest_reset}`), `totals`, `accounts`, `keys`.

    History of the last `days` UTC days, oldest first, every day present (zero when nothing was counted):
    `by`; `series`: one per account or client key, `{id, name, days: [{day, <counters>}], all_time}`;
    `day_totals`: `[{day, <counters>}]`; `all_time`: the series' all-time counters added up. The counters
    are `requests, errors, input_tokens, output_tokens, credits`.
    """
    return await overview(ctx, days, by)


_protected.include_router(admin_keys.router)
_protected.include_router(admin_accounts.router)
_protected.include_router(admin_account_detail.router)
_protected.include_router(admin_requests.router)
_protected.include_router(admin_runway.router)
router.include_router(_protected)

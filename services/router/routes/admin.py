"""Admin API (`/admin/api/...`): login, accounts, client keys, runtime settings, stats, request log.

Every route but login/logout needs the admin (session cookie from the panel, or
`Authorization: Bearer $ADMIN_API_KEY`; see `admin_auth`), checked by `AdminRoute` before any body is
read; bodies are read with a limit (413). The panel's static files are in `admin_ui/`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from services.router.routes import (
    admin_account_detail,
    admin_accounts,
    admin_auth,
    admin_keys,
    admin_requests,
)
from services.router.routes.admin_auth import Admin, Ctx, require_admin
from services.router.routes.admin_route import AdminRoute, body_limit, public
from services.router.routes.admin_settings import SettingsUpdate, read_settings, write_settings
from services.router.routes.admin_stats import overview

#: the panel (index.html, app.css, js/*.js ES modules), mounted by the router app at /admin
UI_DIR = Path(__file__).resolve().parent.parent / "admin_ui"

router = APIRouter(prefix="/admin/api", tags=["admin"], route_class=AdminRoute)
_protected = APIRouter(dependencies=[Depends(require_admin)], route_class=AdminRoute)


#: the login form holds one password of at most 1024 characters
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


@_protected.get("/stats", summary="Pool by state, today's totals, per account and per client key")
async def stats(ctx: Ctx) -> dict[str, Any]:
    return await overview(ctx)


_protected.include_router(admin_keys.router)
_protected.include_router(admin_accounts.router)
_protected.include_router(admin_account_detail.router)
_protected.include_router(admin_requests.router)
router.include_router(_protected)

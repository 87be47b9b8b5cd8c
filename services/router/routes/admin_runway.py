"""Admin API: how long each account's credits, and the pool's, last at the last seven days' pace."""

from __future__ import annotations

import time
from typing import Any

from fastapi import APIRouter

from services.router.credit_runway import account_runways, pool_of
from services.router.routes.admin_auth import Ctx
from services.router.routes.admin_route import AdminRoute
from shared.accounts.runway import WINDOW_DAYS

router = APIRouter(route_class=AdminRoute)


@router.get("/runway", summary="Credit runway of each account and of the pool (last 7 days' burn)")
async def credit_runway(ctx: Ctx) -> dict[str, Any]:
    now = time.time()
    accounts = (await ctx.store.list()).accounts
    runways = await account_runways(ctx, accounts, now)
    return {
        "window_days": WINDOW_DAYS,
        "pool": pool_of(accounts, runways, now).as_dict(),
        "accounts": [
            {"id": a.id, "label": a.label, "state": a.effective_state(now).value, **runways[a.id].as_dict()}
            for a in accounts
        ],
    }

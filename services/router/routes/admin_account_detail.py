"""Admin API: everything known about one account in one answer, for the panel's account detail view.

What `GET /accounts/{id}` answers (state as it really is, proxy masked, today's counters, its last
check, its credit runway), the chat API region it is served in, its last failures and token refreshes
(`shared.accounts.history`), and the requests of the request log it served or failed over from.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from services.router.routes.admin_accounts import AccountId, account_view, get_or_404
from services.router.routes.admin_auth import Ctx
from services.router.routes.admin_route import AdminRoute
from shared.accounts import history
from shared.kiro.endpoints import KiroEndpoints

router = APIRouter(route_class=AdminRoute)

#: request log entries naming the account (served or failed over) the detail shows at most
REQUESTS_SHOWN = 50


@router.get(
    "/accounts/{account_id}/detail",
    summary="One account in full: effective state, region, stats, last check, errors, refreshes, requests",
)
async def account_detail(account_id: AccountId, ctx: Ctx) -> dict[str, Any]:
    account = await get_or_404(ctx, account_id)
    events = await history.load(ctx.redis, ctx.keys, account_id)
    page = await ctx.request_log.read(REQUESTS_SHOWN, account=account_id)
    api_region = KiroEndpoints.from_settings(ctx.settings).api_region(account.profile_arn, account.api_region)
    return {
        **await account_view(ctx, account),
        "region": {"api": api_region, "auth": account.auth_region},
        **events,
        "requests": {
            "served": [e for e in page.entries if e["account"] == account_id],
            "failed_over": [e for e in page.entries if e["account"] != account_id],
        },
    }

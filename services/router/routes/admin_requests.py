"""Admin API: the request log, newest first, paginated by stream id (no content, no key material)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query

from services.router.reqlog import STREAM_ID
from services.router.routes.admin_auth import Ctx
from services.router.routes.admin_route import AdminRoute

router = APIRouter(route_class=AdminRoute)


@router.get(
    "/requests",
    summary="Recent requests, newest first: key, route, model, account and failover trail, outcome, usage",
)
async def list_requests(
    ctx: Ctx,
    *,
    limit: Annotated[int, Query(ge=1, le=500, description="entries per page")] = 100,
    before: Annotated[
        str | None,
        Query(pattern=STREAM_ID.pattern, description="only entries older than this id (`next_before`)"),
    ] = None,
    status: Annotated[
        Literal["ok", "error"] | None,
        Query(description="`ok`: served requests only; `error`: every other outcome"),
    ] = None,
    account: Annotated[
        str | None,
        Query(min_length=1, max_length=128, description="served by, or failed over from, this account id"),
    ] = None,
    key: Annotated[str | None, Query(min_length=1, max_length=120, description="client key name or id")] = (
        None
    ),
) -> dict[str, Any]:
    errors = None if status is None else status == "error"
    page = await ctx.request_log.read(limit, before, errors=errors, account=account, key=key)
    return {"entries": page.entries, "next_before": page.next_before, "size": ctx.request_log.size}

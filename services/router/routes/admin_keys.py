"""Admin API: client API keys (create shows the plain key once; lists never show it)."""

from __future__ import annotations

import time
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from services.router.routes.admin_auth import Ctx
from services.router.routes.admin_route import AdminRoute
from services.router.routes.admin_stats import key_usage
from shared.clientkey_record import NOTE_MAX_CHARS

router = APIRouter(route_class=AdminRoute)

KeyId = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]
ModelName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=128)]
KeyName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=120)]
Note = Annotated[str, StringConstraints(strip_whitespace=True, max_length=NOTE_MAX_CHARS)]


class KeyCreate(BaseModel):
    model_config = ConfigDict(extra="ignore")

    name: KeyName = Field(description="who uses the key (shown in the panel and stats)")
    allowed_models: list[ModelName] = Field(default_factory=list, max_length=200, description="empty = all")
    rpm: int = Field(0, ge=0, le=1_000_000, description="requests per minute, 0 = unlimited")
    daily_tokens: int = Field(0, ge=0, le=10**13, description="tokens per UTC day, 0 = unlimited")
    max_concurrency: int = Field(0, ge=0, le=100_000, description="requests in flight at once, 0 = unlimited")
    monthly_credits: int = Field(
        0, ge=0, le=10**12, description="credits per UTC calendar month, 0 = unlimited"
    )
    expires_at: int = Field(
        0, ge=0, le=2**40, description="unix seconds after which it is refused, 0 = never"
    )
    note: Note = Field("", description=f"free text for the admin (at most {NOTE_MAX_CHARS} characters)")

    @field_validator("expires_at")
    @classmethod
    def _in_the_future(cls, value: int) -> int:
        if value and value <= time.time():
            raise ValueError("expires_at must be in the future (or 0 = never)")
        return value


class KeyUpdate(BaseModel):
    model_config = ConfigDict(extra="ignore")

    name: KeyName | None = None
    enabled: bool | None = None
    allowed_models: list[ModelName] | None = Field(None, max_length=200)
    rpm: int | None = Field(None, ge=0, le=1_000_000)
    daily_tokens: int | None = Field(None, ge=0, le=10**13)
    max_concurrency: int | None = Field(None, ge=0, le=100_000)
    monthly_credits: int | None = Field(None, ge=0, le=10**12)
    expires_at: int | None = Field(None, ge=0, le=2**40, description="0 = never; a past time ends it now")
    note: Note | None = None


def _not_found(key_id: str) -> HTTPException:
    return HTTPException(404, f"no client key with id {key_id!r}")


@router.get(
    "/keys",
    summary="Client keys with today's usage, this month's credits and requests in flight (never the keys)",
)
async def list_keys(ctx: Ctx) -> dict[str, Any]:
    keys = await ctx.client_keys.list()
    usage = await key_usage(ctx, keys)
    standing = await ctx.client_keys.standing(keys)
    now = time.time()
    return {
        "keys": [
            {**k.public_view(), "usage": usage[k.id], **standing[k.id], "expired": k.expired(now)}
            for k in keys
        ]
    }


@router.post("/keys", status_code=201, summary="Create a client key; the plain key is in this answer only")
async def create_key(body: KeyCreate, ctx: Ctx) -> dict[str, Any]:
    key, plain = await ctx.client_keys.create(
        body.name,
        allowed_models=tuple(body.allowed_models),
        rpm=body.rpm,
        daily_tokens=body.daily_tokens,
        max_concurrency=body.max_concurrency,
        monthly_credits=body.monthly_credits,
        expires_at=body.expires_at,
        note=body.note,
    )
    return {**key.public_view(), "key": plain}


@router.patch("/keys/{key_id}", summary="Rename, enable/disable or change the limits of a client key")
async def update_key(key_id: KeyId, body: KeyUpdate, ctx: Ctx) -> dict[str, Any]:
    changes = body.model_dump(exclude_none=True)
    if not changes:
        raise HTTPException(
            400,
            "nothing to change: send name, enabled, allowed_models, rpm, daily_tokens, max_concurrency, "
            "monthly_credits, expires_at or note",
        )
    key = await ctx.client_keys.update(key_id, **changes)
    if key is None:
        raise _not_found(key_id)
    return key.public_view()


@router.delete("/keys/{key_id}", summary="Delete a client key; clients using it are refused at once")
async def delete_key(key_id: KeyId, ctx: Ctx) -> dict[str, Any]:
    if not await ctx.client_keys.delete(key_id):
        raise _not_found(key_id)
    return {"deleted": key_id}

"""Admin API: accounts (add, import, export/restore, device login, edit, enable/disable, refresh, check,
delete).

The work is done by `shared.accounts.ops.AccountOps`; these routes validate input, map failures to
400/404/502 with a clear message, and answer with `AccountStore.public_view()` (never a secret; the proxy
URL masked).
"""

from __future__ import annotations

import asyncio
import time
from typing import Annotated, Any, Literal, Self

from fastapi import APIRouter, Body, HTTPException, Path, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from redis.exceptions import RedisError

from services.router.context import AppContext
from services.router.credit_runway import account_runways
from services.router.routes.admin_auth import Ctx
from services.router.routes.admin_route import AdminRoute, body_limit
from services.router.routes.admin_stats import account_stats
from shared.accounts.checks import load_check, load_checks
from shared.accounts.kiro_cli import read_kiro_cli_bytes
from shared.accounts.model import Account
from shared.accounts.ops import AccountOps
from shared.accounts.report import ImportReport
from shared.accounts.store import MalformedAccountError
from shared.errors import UpstreamError
from shared.jobs import enqueue_check
from shared.kiro.auth import KiroAuth
from shared.kiro.endpoints import KiroEndpoints
from shared.kiro.regions import is_region
from shared.kiro.transport import AuthHttp

router = APIRouter(route_class=AdminRoute)

AccountId = Annotated[str, Path(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_.:-]+$")]
FlowId = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]
_PROXY_SCHEMES = ("http://", "https://", "socks5://", "socks5h://", "socks4://")


def _check_region(value: str | None) -> str | None:
    if value is not None and value != "" and not is_region(value):
        raise ValueError("not an AWS region (like us-east-1)")
    return value or None


def _check_proxy(value: str | None) -> str | None:
    if value is not None and value != "" and not value.startswith(_PROXY_SCHEMES):
        raise ValueError(f"proxy URL must start with one of {', '.join(_PROXY_SCHEMES)}")
    return value


def _check_start_url(value: str | None) -> str | None:
    if value is not None and value != "" and not value.startswith("https://"):
        raise ValueError("start URL must be an https:// URL (like https://d-xxxxxxxxxx.awsapps.com/start)")
    return value or None


class AccountCreate(BaseModel):
    """A login from its refresh token, or a Kiro IDE `kiro-auth-token.json` (+ client registration).

    `external_idp` is an enterprise login through Entra ID or Okta: its refresh goes to the identity
    provider's token endpoint with the client id (and scopes, when the provider wants them)."""

    model_config = ConfigDict(extra="ignore")

    auth_kind: Literal["social", "idc", "external_idp"] | None = Field(
        None, description="social (Google/GitHub), idc (Builder ID / IAM Identity Center) or external_idp"
    )
    refresh_token: str | None = Field(None, min_length=1, max_length=16384)
    client_id: str | None = Field(None, max_length=4096, description="IdC OIDC / external IdP client id")
    client_secret: str | None = Field(None, max_length=16384, description="IdC / Builder ID client secret")
    auth_region: str | None = Field(None, description="OIDC / social auth region (default us-east-1)")
    start_url: str | None = Field(None, max_length=2048, description="IdC start URL")
    token_endpoint: str | None = Field(None, max_length=2048, description="external IdP OAuth token URL")
    scopes: str | None = Field(None, max_length=4096, description="external IdP scopes, space-separated")
    profile_arn: str | None = Field(None, max_length=512, description="Kiro profile ARN (external IdP)")
    label: str = Field("", max_length=120)
    weight: int = Field(100, ge=0, le=10_000, description="share of picks relative to other accounts")
    proxy_url: str = Field("", max_length=2048, description="per-account outbound proxy")
    kiro_auth_token: dict[str, Any] | None = Field(None, description="contents of kiro-auth-token.json")
    client_registration: dict[str, Any] | None = Field(None, description="contents of {clientIdHash}.json")

    _region = field_validator("auth_region")(_check_region)
    _proxy = field_validator("proxy_url")(_check_proxy)
    _start = field_validator("start_url")(_check_start_url)

    @model_validator(mode="after")
    def _one_source(self) -> Self:
        if self.kiro_auth_token is not None:
            return self
        if not self.auth_kind or not self.refresh_token or not self.refresh_token.strip():
            raise ValueError("send auth_kind + refresh_token, or kiro_auth_token (the kiro-auth-token.json)")
        if self.auth_kind == "idc" and not (self.client_id and self.client_secret):
            raise ValueError("an idc login needs client_id and client_secret")
        if self.auth_kind == "external_idp" and not (self.token_endpoint and self.client_id):
            raise ValueError("an external_idp login needs token_endpoint and client_id")
        return self


class AccountPatch(BaseModel):
    model_config = ConfigDict(extra="ignore")

    label: str | None = Field(None, max_length=120)
    weight: int | None = Field(None, ge=0, le=10_000)
    enabled: bool | None = None
    proxy_url: str | None = Field(None, max_length=2048, description="'' = the global VPN_PROXY_URL")
    max_concurrency: int | None = Field(None, ge=0, le=1000, description="0 = the stack default")
    min_interval_ms: int | None = Field(None, ge=-1, le=600_000, description="-1 = the stack default")
    api_region: str | None = Field(
        None, max_length=64, description="chat API region (like eu-central-1); '' = the profile ARN's"
    )

    _proxy = field_validator("proxy_url")(_check_proxy)


class DeviceFlowBody(BaseModel):
    model_config = ConfigDict(extra="ignore")

    auth_region: str | None = Field(None, description="IdC region (Builder ID: us-east-1)")
    start_url: str | None = Field(None, max_length=2048, description="IdC start URL; empty = Builder ID")
    label: str = Field("", max_length=120)

    _region = field_validator("auth_region")(_check_region)
    _start = field_validator("start_url")(_check_start_url)


class RestoreBody(BaseModel):
    model_config = ConfigDict(extra="ignore")

    backup: dict[str, Any] = Field(description="the document GET /admin/api/accounts/export returned")
    passphrase: str | None = Field(None, max_length=1024)


def _ops(ctx: AppContext) -> AccountOps:
    return AccountOps(ctx.redis, ctx.keys, ctx.box, ctx.arq)


def _not_found(account_id: str) -> HTTPException:
    return HTTPException(404, f"no account with id {account_id!r}")


async def get_or_404(ctx: AppContext, account_id: str) -> Account:
    """The stored account, or a 404 naming the id."""
    account = await ctx.store.get(account_id)
    if account is None:
        raise _not_found(account_id)
    return account


async def account_view(ctx: AppContext, account: Account) -> dict[str, Any]:
    """What the API answers for one account: its public view, today's stats, last check and runway."""
    stats = await account_stats(ctx, [account.id])
    check = await load_check(ctx.redis, ctx.keys, account.id)
    runways = await account_runways(ctx, [account], time.time())
    return {
        **ctx.store.public_view(account),
        "stats": stats[account.id],
        "last_check": check,
        "runway": runways[account.id].as_dict(),
    }


@router.get(
    "/accounts",
    summary="Every account (no secrets) with today's stats, last check and credit runway; malformed records "
    "apart",
)
async def list_accounts(ctx: Ctx) -> dict[str, Any]:
    listing = await ctx.store.list()
    ids = [a.id for a in listing.accounts]
    stats = await account_stats(ctx, ids)
    checks = await load_checks(ctx.redis, ctx.keys, ids)
    runways = await account_runways(ctx, listing.accounts, time.time())
    return {
        "accounts": [
            {
                **ctx.store.public_view(a),
                "stats": stats[a.id],
                "last_check": checks[a.id],
                "runway": runways[a.id].as_dict(),
            }
            for a in listing.accounts
        ],
        "invalid": [{"id": i.id, "reason": i.reason} for i in listing.invalid],
    }


@router.post("/accounts", status_code=201, summary="Add an account (201), or 200 when it exists already")
async def add_account(body: AccountCreate, response: Response, ctx: Ctx) -> dict[str, Any]:
    ops = _ops(ctx)
    if body.kiro_auth_token is not None:
        report = await ops.add_kiro_auth_token(
            body.kiro_auth_token, body.client_registration, label=body.label
        )
    else:
        report = await ops.add_refresh_token(
            body.auth_kind or "social",
            body.refresh_token or "",
            client_id=body.client_id or "",
            client_secret=body.client_secret or "",
            auth_region=body.auth_region or "us-east-1",
            start_url=body.start_url or "",
            token_endpoint=body.token_endpoint or "",
            scopes=body.scopes or "",
            profile_arn=body.profile_arn or "",
            label=body.label,
            weight=body.weight,
            proxy_url=body.proxy_url,
        )
    account_id = _single(report)
    if body.kiro_auth_token is not None and (body.weight != 100 or body.proxy_url):
        await ops.update(account_id, {"weight": body.weight, "proxy_url": body.proxy_url})
    if account_id in report.updated:
        response.status_code = 200
    return await account_view(ctx, await get_or_404(ctx, account_id))


def _single(report: ImportReport) -> str:
    if report.skipped:
        raise HTTPException(400, f"account not added: {report.skipped[0]['reason']}")
    ids = report.added + report.updated
    if not ids:
        raise HTTPException(400, "account not added")
    return ids[0]


@router.post("/accounts/import", summary="Import a kiro-go config.json, or {'refresh_tokens': [...]}")
async def import_accounts(
    data: Annotated[dict[str, Any] | list[Any], Body(description="kiro-go data/config.json")],
    ctx: Ctx,
) -> dict[str, Any]:
    report = await _ops(ctx).import_any(data)
    return report.as_dict()


#: a kiro-cli database holds a few rows; anything much larger is not one
KIRO_CLI_DB_MAX_BYTES = 32 * 1024 * 1024


@router.post(
    "/accounts/import/kiro-cli",
    summary="Add the login of a kiro-cli / amazon-q CLI database (data.sqlite3, sent as the raw body)",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}},
        }
    },
)
@body_limit(KIRO_CLI_DB_MAX_BYTES)
async def import_kiro_cli(request: Request, ctx: Ctx, label: str = "") -> dict[str, Any]:
    body = await request.body()  # read by AdminRoute within the limit, after the admin check
    auth_kv, state = await asyncio.to_thread(read_kiro_cli_bytes, body)
    report = await _ops(ctx).add_kiro_cli(auth_kv, state, label=label.strip()[:100])
    return report.as_dict()


@router.get("/accounts/export", summary="Encrypted backup of every account (opens with KIRO_SECRET_KEY)")
async def export_accounts(ctx: Ctx) -> dict[str, Any]:
    return await _ops(ctx).backups.export()


@router.post("/accounts/restore", summary="Recreate the accounts of a backup; existing ones are skipped")
async def restore_accounts(
    data: Annotated[dict[str, Any], Body(description="a backup, or {'backup': ..., 'passphrase': ...}")],
    ctx: Ctx,
) -> dict[str, Any]:
    body = RestoreBody.model_validate(data) if "backup" in data else RestoreBody(backup=data)
    report = await _ops(ctx).backups.restore(body.backup, body.passphrase)
    return report.as_dict()


@router.post("/accounts/device-flow", summary="Start a Builder ID / IdC device login")
async def start_device_flow(body: DeviceFlowBody, ctx: Ctx) -> dict[str, Any]:
    settings = ctx.settings
    auth = KiroAuth(
        KiroEndpoints.from_settings(settings), settings.kiro_ide_version, settings.kiro_sdk_version
    )
    http = AuthHttp(ctx.http, proxy_url=settings.vpn_proxy_url)
    try:
        flow = await _ops(ctx).device_flows.start(
            auth,
            http,
            auth_region=body.auth_region or "us-east-1",
            start_url=body.start_url or "",
            label=body.label,
        )
    except UpstreamError as exc:
        raise HTTPException(502, f"the AWS sign-in service refused the device login: {exc.message}") from exc
    finally:
        await http.close()
    return flow.as_dict()


@router.get("/accounts/device-flow/{flow_id}", summary="Status of a device login")
async def device_flow_status(flow_id: FlowId, ctx: Ctx) -> dict[str, Any]:
    return await _ops(ctx).device_flows.status(flow_id)


@router.get("/accounts/{account_id}", summary="One account (no secrets) with today's stats and credit runway")
async def get_account(account_id: AccountId, ctx: Ctx) -> dict[str, Any]:
    return await account_view(ctx, await get_or_404(ctx, account_id))


@router.patch(
    "/accounts/{account_id}",
    summary="Change label, weight, enabled, proxy, API region, concurrency or spacing",
)
async def update_account(account_id: AccountId, body: AccountPatch, ctx: Ctx) -> dict[str, Any]:
    changes = body.model_dump(exclude_none=True)
    if not changes:
        raise HTTPException(400, f"nothing to change: send one of {', '.join(AccountPatch.model_fields)}")
    try:
        account = await _ops(ctx).update(account_id, changes)
    except MalformedAccountError:
        raise  # 409 from AdminRoute, not a 400: the stored record is at fault, not the request
    except ValueError as exc:
        raise HTTPException(400, str(exc)) from exc
    if account is None:
        raise _not_found(account_id)
    return await account_view(ctx, account)


@router.delete("/accounts/{account_id}", summary="Delete an account and everything stored for it")
async def delete_account(account_id: AccountId, ctx: Ctx) -> dict[str, Any]:
    if not await _ops(ctx).delete(account_id):
        raise _not_found(account_id)
    return {"deleted": account_id}


#: longest `POST .../check` waits for the refresher's answer by default before it answers 202
CHECK_WAIT_SECONDS = 30.0


@router.get("/accounts/{account_id}/check", summary="The account's last check (404 when never checked)")
async def last_check(account_id: AccountId, ctx: Ctx) -> dict[str, Any]:
    check = await load_check(ctx.redis, ctx.keys, account_id)
    if check is None:
        await get_or_404(ctx, account_id)
        raise HTTPException(404, f"account {account_id!r} was never checked")
    return check


@router.post(
    "/accounts/{account_id}/check",
    summary="Check the account against Kiro (token, models, usage, one chat): the result, or 202 while the "
    "refresher still runs it (then poll GET .../check)",
    responses={202: {"description": "the check was queued and is still running"}},
)
async def run_check(
    account_id: AccountId,
    response: Response,
    ctx: Ctx,
    wait: Annotated[
        float, Query(ge=0, le=60, description="seconds to wait for the result")
    ] = CHECK_WAIT_SECONDS,
) -> dict[str, Any]:
    await get_or_404(ctx, account_id)
    try:
        job = await enqueue_check(ctx.arq, ctx.keys, account_id, source="admin")
    except (RedisError, OSError, TimeoutError) as exc:
        raise HTTPException(503, "the check could not be queued: Redis did not answer") from exc
    try:
        result: dict[str, Any] | None = await job.result(timeout=wait, poll_delay=0.2)
    except TimeoutError:
        response.status_code = 202
        return {"account_id": account_id, "queued": True, "job_id": job.job_id}
    if result is None:
        raise _not_found(account_id)
    return result


@router.post("/accounts/{account_id}/{action}", summary="enable, disable, or refresh (queue a token refresh)")
async def account_action(
    account_id: AccountId,
    action: Literal["enable", "disable", "refresh"],
    ctx: Ctx,
) -> dict[str, Any]:
    ops = _ops(ctx)
    if action == "refresh":
        await get_or_404(ctx, account_id)
        queued = await ops.request_refresh(account_id, force=True, reason="admin")
        return {"account_id": account_id, "queued": queued}
    account = await ops.set_enabled(account_id, action == "enable")
    if account is None:
        raise _not_found(account_id)
    return await account_view(ctx, account)

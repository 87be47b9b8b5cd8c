"""Device-flow login (Builder ID / IAM Identity Center): start it, poll its status, turn it into an account.

The router starts a flow; the refresher polls Kiro's OIDC endpoint (`services/refresher/device.py`) and
finishes it here. The flow lives in one Redis hash until its code expires (plus a grace to read it).
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

from shared.accounts.importers import AccountSpec
from shared.accounts.model import AuthKind
from shared.jobs import POLL_DEVICE_FLOW
from shared.kiro.answers import TokenSet, parse_device_authorization, parse_registration
from shared.kiro.auth import BUILDER_ID_START_URL, KiroAuth
from shared.kiro.transport import AuthHttp
from shared.redis_topology import StackRedis

if TYPE_CHECKING:
    from shared.accounts.ops import AccountOps

DEVICE_FLOW_GRACE = 120  # seconds a finished device flow stays readable after its code expired


@dataclass(frozen=True)
class DeviceFlowStart:
    """What the user needs to finish a device login."""

    flow_id: str
    user_code: str
    verification_uri_complete: str
    expires_in: int
    interval: int

    def as_dict(self) -> dict[str, Any]:
        return {
            "flow_id": self.flow_id,
            "user_code": self.user_code,
            "verification_uri_complete": self.verification_uri_complete,
            "expires_in": self.expires_in,
            "interval": self.interval,
        }


class DeviceFlows:
    """Device logins for one `AccountOps` (its Redis, keys, secret box, arq pool and account store)."""

    def __init__(self, ops: AccountOps) -> None:
        self._ops = ops
        self.client = ops.client
        self.keys = ops.keys
        self.box = ops.box
        self.arq_pool = ops.arq_pool

    async def start(
        self,
        auth: KiroAuth,
        http: AuthHttp,
        *,
        auth_region: str = "us-east-1",
        start_url: str = "",
        label: str = "",
    ) -> DeviceFlowStart:
        """Register an OIDC client, start a device authorization and have the refresher poll it.

        Raises UpstreamError when the OIDC endpoints refuse.
        """
        start_url = start_url or BUILDER_ID_START_URL
        registration = parse_registration(*await http.send(auth.register_client(auth_region, start_url)))
        device = parse_device_authorization(
            *await http.send(auth.device_authorization(registration, auth_region, start_url))
        )
        flow_id = secrets.token_urlsafe(16)
        key = self.keys.device_flow(flow_id)
        now = time.time()
        pipe = self.client.pipeline(transaction=True)
        pipe.hset(
            key,
            mapping={
                "status": "pending",
                "auth_region": auth_region,
                "start_url": start_url,
                "label": label,
                "client_id": registration.client_id,
                "client_secret_enc": self.box.encrypt(registration.client_secret),
                "client_secret_expires_at": str(registration.expires_at),
                "device_code_enc": self.box.encrypt(device.device_code),
                "user_code": device.user_code,
                "verification_uri_complete": device.verification_uri_complete,
                "interval": str(device.interval),
                "expires_at": str(now + device.expires_in),
                "created_at": str(now),
            },
        )
        pipe.expire(key, int(device.expires_in) + DEVICE_FLOW_GRACE)
        await pipe.execute()
        if self.arq_pool is not None:
            await self.arq_pool.enqueue_job(
                POLL_DEVICE_FLOW,
                flow_id,
                _job_id=self.keys.device_job_id(flow_id),
                _queue_name=self.keys.arq_queue(),
                _defer_by=device.interval,
            )
        return DeviceFlowStart(
            flow_id,
            device.user_code,
            device.verification_uri_complete,
            int(device.expires_in),
            int(device.interval),
        )

    async def status(self, flow_id: str) -> dict[str, Any]:
        """`{"status": pending|complete|expired|denied|error, "account_id"?, "error"?}`."""
        data = await _hgetall(self.client, self.keys.device_flow(flow_id))
        if not data:
            return {"status": "expired"}
        status = data.get("status", "error")
        if status == "pending" and float(data.get("expires_at") or 0) < time.time():
            status = "expired"
        out: dict[str, Any] = {"status": status}
        if data.get("account_id"):
            out["account_id"] = data["account_id"]
        if data.get("error"):
            out["error"] = data["error"]
        return out

    async def finish(self, flow_id: str, tokens: TokenSet) -> str | None:
        """Create the account of a completed device login (refresher only); returns its id.

        The account is stored with its first access token, so the refresher can activate it at once.
        """
        data = await _hgetall(self.client, self.keys.device_flow(flow_id))
        if not data:
            return None
        spec = AccountSpec(
            auth_kind=AuthKind.IDC,
            refresh_token=tokens.refresh_token,
            client_id=data["client_id"],
            client_secret=self.box.decrypt(data["client_secret_enc"]),
            client_secret_expires_at=float(data.get("client_secret_expires_at") or 0),
            auth_region=data.get("auth_region") or "us-east-1",
            start_url=data.get("start_url", ""),
            provider="BuilderId" if data.get("start_url") == BUILDER_ID_START_URL else "Enterprise",
            label=data.get("label", ""),
            source="device-flow",
        )
        account = self._ops.new_account(spec.account_id(), spec)
        account.access_token_enc = self.box.encrypt(tokens.access_token)
        account.access_expires_at = tokens.expires_at()
        account.token_version = 1
        account.last_refresh_at = time.time()
        await self._ops.store.create(account)
        await self.set_outcome(flow_id, "complete", account_id=account.id)
        return account.id

    async def set_outcome(self, flow_id: str, status: str, *, account_id: str = "", error: str = "") -> None:
        """Record the outcome of a device login (it stays readable until the flow key expires)."""
        key = self.keys.device_flow(flow_id)
        mapping = {"status": status, "account_id": account_id, "error": error}
        pipe = self.client.pipeline(transaction=True)
        pipe.exists(key)
        pipe.hset(key, mapping=mapping)
        pipe.expire(key, DEVICE_FLOW_GRACE, gt=True)
        exists, _, _ = await pipe.execute()
        if not exists:
            await self.client.delete(key)


async def _hgetall(client: StackRedis, key: str) -> dict[str, str]:
    return await cast(Awaitable[dict[str, str]], client.hgetall(key))

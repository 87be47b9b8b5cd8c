"""Account operations the admin API and the refresher CLI call: add, import, export/restore, enable,
disable, update, delete, refresh on demand, device-flow login.

Every add is idempotent: an account's id is derived from its credential (`AccountSpec.fingerprint`), so
importing the same login twice updates the account instead of duplicating it. A new account is stored
with its encrypted refresh token and no access token, in state `pending` (out of the pool); the
refresher fetches the first access token and usage and only then puts it in the pool.
"""

from __future__ import annotations

import secrets
import time
import uuid
from collections.abc import Awaitable
from dataclasses import dataclass, field
from typing import Any, cast

import orjson
from redis.asyncio import Redis

from shared.accounts.backup import open_backup, seal_backup
from shared.accounts.importers import (
    AccountSpec,
    ImportFormatError,
    Skipped,
    parse_kiro_auth_token,
    parse_kiro_cli,
    parse_kiro_go,
    parse_kiro_go_settings,
    parse_refresh_tokens,
    scopes_text,
)
from shared.accounts.model import Account, AccountState, AuthKind, mask_proxy_url
from shared.accounts.state import AccountStates
from shared.accounts.store import AccountStore
from shared.clientkeys import ClientKeys
from shared.crypto import SecretBox
from shared.jobs import POLL_DEVICE_FLOW, enqueue_refresh
from shared.keys import Keys
from shared.kiro.answers import TokenSet, parse_device_authorization, parse_registration
from shared.kiro.auth import BUILDER_ID_START_URL, KiroAuth
from shared.kiro.regions import check_region, profile_arn_region
from shared.kiro.transport import AuthHttp
from shared.runtime_settings import store_settings

PENDING_REASON = "waiting for the first token refresh"
DEVICE_FLOW_GRACE = 120  # seconds a finished device flow stays readable after its code expired


@dataclass
class ImportReport:
    """What an add/import did: ids added and updated, entries skipped with the reason."""

    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    skipped: list[dict[str, str]] = field(default_factory=list)
    #: runtime settings the import applied (kiro-go: thinking suffix and formats), name -> value
    settings: dict[str, Any] = field(default_factory=dict)
    #: client keys the import stored (hashed) and ones that were there already; never the keys
    client_keys_created: int = 0
    client_keys_existing: int = 0

    def skip(self, entry: str, reason: str) -> None:
        self.skipped.append({"entry": entry, "reason": reason})

    def summary(self) -> str:
        """One line for people: what was carried over (never a secret)."""
        accounts = len(self.added) + len(self.updated)
        parts = [
            f"{accounts} account{'s' * (accounts != 1)} ({len(self.added)} new, {len(self.updated)} updated"
            f", {len(self.skipped)} skipped)"
        ]
        if self.settings:
            shown = (
                f"{k}={f'{len(v)} aliases' if isinstance(v, dict) else v}" for k, v in self.settings.items()
            )
            parts.append("settings applied: " + ", ".join(shown))
        if self.client_keys_created or self.client_keys_existing:
            created = self.client_keys_created
            text = f"{created} client key{'s' * (created != 1)} created"
            if self.client_keys_existing:
                text += f" ({self.client_keys_existing} already there)"
            parts.append(text)
        return "; ".join(parts)

    def as_dict(self) -> dict[str, Any]:
        return {
            "added": self.added,
            "updated": self.updated,
            "skipped": self.skipped,
            "settings": self.settings,
            "client_keys": {"created": self.client_keys_created, "existing": self.client_keys_existing},
            "summary": self.summary(),
        }


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


class AccountOps:
    """Account operations bound to one Redis client, key prefix, secret box and (optional) arq pool.

    `arq_pool` is an `arq.connections.ArqRedis`; without it nothing is enqueued and new accounts wait
    for the refresher's next periodic run.
    """

    def __init__(self, client: Redis, keys: Keys, box: SecretBox, arq_pool: Any = None) -> None:
        self.client = client
        self.keys = keys
        self.box = box
        self.store = AccountStore(client, keys, box)
        self.states = AccountStates(client, keys)
        self.arq_pool = arq_pool

    # --- adding ---------------------------------------------------------------------------------
    async def add_spec(self, spec: AccountSpec, report: ImportReport | None = None) -> ImportReport:
        """Add one account from a spec, or update the non-secret fields of the account it already is."""
        report = report if report is not None else ImportReport()
        try:
            spec.validate()
        except ValueError as exc:
            report.skip(spec.describe(), str(exc))
            return report
        account_id = spec.account_id()
        existing = await self.store.exists(account_id)
        if existing:
            changes: dict[str, object] = {}
            if spec.label:
                changes["label"] = spec.label
            if spec.email:
                changes["email"] = spec.email
            if changes:
                await self.store.update(account_id, changes)
            report.updated.append(account_id)
            return report
        if await self.store.create(self._new_account(account_id, spec)):
            report.added.append(account_id)
            await self.request_refresh(account_id, reason="added")
        else:  # created concurrently by another import of the same credential
            report.updated.append(account_id)
        return report

    def _new_account(self, account_id: str, spec: AccountSpec) -> Account:
        account = Account(
            id=account_id,
            label=spec.label,
            auth_kind=spec.auth_kind,
            provider=spec.provider,
            auth_region=spec.auth_region,
            profile_arn=spec.profile_arn,
            start_url=spec.start_url,
            token_endpoint=spec.token_endpoint,
            scopes=spec.scopes,
            email=spec.email,
            machine_id=spec.machine_id or uuid.uuid4().hex + uuid.uuid4().hex,
            refresh_token_enc=self.box.encrypt(spec.refresh_token),
            client_id=spec.client_id,
            client_secret_enc=self.box.encrypt(spec.client_secret) if spec.client_secret else "",
            client_secret_expires_at=spec.client_secret_expires_at,
            enabled=spec.enabled,
            weight=spec.weight,
            proxy_url=spec.proxy_url,
            state=AccountState.PENDING,
            state_reason=PENDING_REASON,
            source=spec.source,
        )
        for name, value in spec.extra.items():
            if name in ("subscription_title",):
                setattr(account, name, value)
            elif name in ("usage_current", "usage_limit", "usage_reset_at"):
                setattr(account, name, float(value))
        return account

    async def add_refresh_token(
        self,
        auth_kind: AuthKind | str,
        refresh_token: str,
        *,
        client_id: str = "",
        client_secret: str = "",
        auth_region: str = "us-east-1",
        start_url: str = "",
        token_endpoint: str = "",
        scopes: str = "",
        profile_arn: str = "",
        label: str = "",
        weight: int = 100,
        proxy_url: str = "",
        source: str = "admin",
    ) -> ImportReport:
        """Add a login from its refresh token: social; IdC (with client id + secret); or an enterprise
        external IdP such as Entra ID or Okta (with its token endpoint and client id, and the OAuth
        scopes its refresh needs, if any)."""
        spec = AccountSpec(
            auth_kind=AuthKind(auth_kind),
            refresh_token=refresh_token.strip(),
            client_id=client_id.strip(),
            client_secret=client_secret.strip(),
            auth_region=auth_region or "us-east-1",
            start_url=start_url,
            token_endpoint=token_endpoint.strip(),
            scopes=scopes_text(scopes),
            profile_arn=profile_arn.strip(),
            label=label,
            weight=weight,
            proxy_url=proxy_url,
            source=source,
        )
        return await self.add_spec(spec)

    async def add_kiro_auth_token(
        self,
        token_file: dict[str, Any],
        client_registration: dict[str, Any] | None = None,
        *,
        label: str = "",
    ) -> ImportReport:
        """Add the login in a Kiro IDE `kiro-auth-token.json` (+ its `{clientIdHash}.json` for IdC).

        Raises ImportFormatError when the file cannot be used.
        """
        spec = parse_kiro_auth_token(token_file, client_registration)
        spec.label = label
        return await self.add_spec(spec)

    async def add_kiro_cli(
        self, auth_kv: dict[str, str], state: dict[str, str], *, label: str = ""
    ) -> ImportReport:
        """Add the login kiro-cli (or the amazon-q CLI) keeps in its SQLite `auth_kv` / `state` tables.

        Raises ImportFormatError when there is no usable login.
        """
        spec = parse_kiro_cli(auth_kv, state)
        spec.label = label
        return await self.add_spec(spec)

    async def import_kiro_go(self, config: dict[str, Any]) -> ImportReport:
        """Import every account of a kiro-go `data/config.json`; bad entries are reported, not fatal.

        Raises ImportFormatError when the object is not a kiro-go config at all.
        """
        specs, skipped = parse_kiro_go(config)
        report = await self._add_all(specs, skipped)
        carried = parse_kiro_go_settings(config)
        await store_settings(self.client, self.keys, carried.options)
        report.settings = dict(carried.options)
        client_keys = ClientKeys(self.client, self.keys)
        for name, plain in carried.client_keys:  # hashed like any client key: old clients keep working
            if await client_keys.ensure(plain, name):
                report.client_keys_created += 1
            else:
                report.client_keys_existing += 1
        return report

    async def import_refresh_tokens(self, data: Any) -> ImportReport:
        """Import a kiro-gateway `KIRO_REFRESH_TOKENS` list (string, list or {"refresh_tokens": [...]})."""
        specs, skipped = parse_refresh_tokens(data)
        return await self._add_all(specs, skipped)

    async def import_any(self, data: Any) -> ImportReport:
        """The admin API's import body: a kiro-go config, or {"refresh_tokens": [...]}."""
        if isinstance(data, dict) and "accounts" in data:
            return await self.import_kiro_go(data)
        if (isinstance(data, dict) and "refresh_tokens" in data) or isinstance(data, list | str):
            return await self.import_refresh_tokens(data)
        raise ImportFormatError("expected a kiro-go config.json object or {'refresh_tokens': [...]}")

    async def _add_all(self, specs: list[AccountSpec], skipped: list[Skipped]) -> ImportReport:
        report = ImportReport()
        for item in skipped:
            report.skip(item.entry, item.reason)
        for spec in specs:
            await self.add_spec(spec, report)
        return report

    # --- changing -------------------------------------------------------------------------------
    async def update(self, account_id: str, changes: dict[str, Any]) -> Account | None:
        """Change editable fields (label, weight, enabled, proxy_url, max_concurrency, min_interval_ms).

        None when the account does not exist; ValueError for a field that cannot be edited.
        """
        changes = dict(changes)
        if await self._is_masked_proxy(account_id, changes.get("proxy_url")):
            del changes["proxy_url"]  # the masked URL the panel showed, sent back unchanged
        enabled = changes.pop("enabled", None)
        if changes and not await self.store.update(account_id, changes):
            return None
        if enabled is not None:
            return await self.set_enabled(account_id, bool(enabled))
        await self.states.notify(account_id, "account_changed")
        return await self.store.get(account_id)

    async def _is_masked_proxy(self, account_id: str, url: object) -> bool:
        if not isinstance(url, str) or "****" not in url:
            return False
        account = await self.store.get(account_id)
        return account is not None and url == mask_proxy_url(self.store.proxy_url(account))

    async def set_enabled(self, account_id: str, enabled: bool) -> Account | None:
        """Enable or disable an account; enabling puts it back in the pool once it has a usable token."""
        if not await self.store.set_fields(account_id, {"enabled": "1" if enabled else "0"}):
            return None
        account = await self.store.get(account_id)
        if account is None:
            return None
        if not enabled:
            await self.states.disable(account_id, "disabled by an operator")
        elif account.state in (AccountState.DISABLED, AccountState.NEEDS_RELOGIN, AccountState.PENDING):
            if account.access_token_enc and account.access_expires_at > time.time() + 60:
                await self.states.activate(account_id)
            else:
                await self.states.set(account_id, AccountState.PENDING, PENDING_REASON)
                await self.request_refresh(account_id, force=True, reason="enabled")
        else:  # re-apply the current state so pool membership follows `enabled`
            until = account.cooldown_until or account.exhausted_until
            await self.states.set(account_id, account.state, account.state_reason, until)
        return await self.store.get(account_id)

    async def delete(self, account_id: str) -> bool:
        """Delete an account and every key it owns; False when there was nothing to delete."""
        deleted = await self.store.delete(account_id)
        if deleted:
            await self.states.notify(account_id, "account_deleted")
        return deleted

    async def request_refresh(self, account_id: str, *, force: bool = False, reason: str = "") -> bool:
        """Ask the refresher for a refresh; bursts collapse into one job. False when nothing was queued."""
        if self.arq_pool is None:
            return False
        return await enqueue_refresh(self.arq_pool, self.keys, account_id, force=force, reason=reason)

    # --- backup ---------------------------------------------------------------------------------
    async def export(self, passphrase: str | None = None) -> dict[str, Any]:
        """An encrypted backup of every account (secrets included, sealed as a whole).

        Without a passphrase the backup opens with this stack's KIRO_SECRET_KEY only.
        """
        listing = await self.store.list()
        records = [self._portable(account) for account in listing.accounts]
        return seal_backup(records, self.box, passphrase)

    def _portable(self, account: Account) -> dict[str, Any]:
        return {
            "id": account.id,
            "label": account.label,
            "auth_kind": account.auth_kind.value,
            "provider": account.provider,
            "auth_region": account.auth_region,
            "api_region": account.api_region,
            "profile_arn": account.profile_arn,
            "start_url": account.start_url,
            "token_endpoint": account.token_endpoint,
            "scopes": account.scopes,
            "email": account.email,
            "machine_id": account.machine_id,
            "refresh_token": self.store.refresh_token(account),
            "client_id": account.client_id,
            "client_secret": self.store.client_secret(account),
            "client_secret_expires_at": account.client_secret_expires_at,
            "enabled": account.enabled,
            "weight": account.weight,
            "proxy_url": self.store.proxy_url(account),
            "max_concurrency": account.max_concurrency,
            "min_interval_ms": account.min_interval_ms,
            "source": account.source,
        }

    async def restore(self, backup: dict[str, Any], passphrase: str | None = None) -> ImportReport:
        """Recreate the accounts of a backup; ones that exist already are left alone (reported skipped).

        Raises ImportFormatError when the backup cannot be opened.
        """
        records = open_backup(backup, self.box, passphrase)
        report = ImportReport()
        for index, record in enumerate(records):
            entry = str(record.get("label") or record.get("id") or f"accounts[{index}]")
            try:
                account = self._restored(record)
            except (KeyError, TypeError, ValueError) as exc:
                report.skip(entry, f"malformed backup record: {exc}")
                continue
            if await self.store.create(account):
                report.added.append(account.id)
                await self.request_refresh(account.id, reason="restored")
            else:
                report.skip(entry, "an account with this id exists already")
        return report

    def _restored(self, record: dict[str, Any]) -> Account:
        refresh_token = str(record["refresh_token"])
        if not refresh_token:
            raise ValueError("no refresh token")
        secret = str(record.get("client_secret") or "")
        auth_region = check_region(str(record.get("auth_region") or "us-east-1"), "auth_region")
        api_region = str(record.get("api_region", ""))
        profile_arn = str(record.get("profile_arn", ""))
        if api_region:
            check_region(api_region, "api_region")
        if profile_arn:
            profile_arn_region(profile_arn)
        return Account(
            id=str(record["id"]),
            label=str(record.get("label", "")),
            auth_kind=AuthKind(record.get("auth_kind", "social")),
            provider=str(record.get("provider", "")),
            auth_region=auth_region,
            api_region=api_region,
            profile_arn=profile_arn,
            start_url=str(record.get("start_url", "")),
            token_endpoint=str(record.get("token_endpoint", "")),
            scopes=str(record.get("scopes", "")),
            email=str(record.get("email", "")),
            machine_id=str(record.get("machine_id") or uuid.uuid4().hex),
            refresh_token_enc=self.box.encrypt(refresh_token),
            client_id=str(record.get("client_id", "")),
            client_secret_enc=self.box.encrypt(secret) if secret else "",
            client_secret_expires_at=float(record.get("client_secret_expires_at") or 0),
            enabled=bool(record.get("enabled", True)),
            weight=int(record.get("weight", 100)),
            proxy_url=str(record.get("proxy_url", "")),
            max_concurrency=int(record.get("max_concurrency", 0)),
            min_interval_ms=int(record.get("min_interval_ms", -1)),
            state=AccountState.PENDING,
            state_reason=PENDING_REASON,
            source=str(record.get("source") or "restore"),
        )

    # --- device flow ----------------------------------------------------------------------------
    async def start_device_flow(
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

    async def device_flow_status(self, flow_id: str) -> dict[str, Any]:
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

    async def finish_device_flow(self, flow_id: str, tokens: TokenSet) -> str | None:
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
        account = self._new_account(spec.account_id(), spec)
        account.access_token_enc = self.box.encrypt(tokens.access_token)
        account.access_expires_at = tokens.expires_at()
        account.token_version = 1
        account.last_refresh_at = time.time()
        await self.store.create(account)
        await self.set_device_flow(flow_id, "complete", account_id=account.id)
        return account.id

    async def set_device_flow(
        self, flow_id: str, status: str, *, account_id: str = "", error: str = ""
    ) -> None:
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


async def _hgetall(client: Redis, key: str) -> dict[str, str]:
    return await cast(Awaitable[dict[str, str]], client.hgetall(key))


def parse_json_bytes(raw: bytes | str) -> Any:
    """Parse a JSON document given to an import (raises ImportFormatError on bad JSON)."""
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise ImportFormatError(f"not valid JSON: {exc}") from exc

"""Account operations the admin API and the refresher CLI call: add, import, enable, disable, update,
delete, refresh on demand; export/restore (`backups.py`) and device-flow login (`device_flows.py`) hang
off the same object.

Every add is idempotent: an account's id is derived from its credential (`AccountSpec.fingerprint`), so
importing the same login twice updates the account instead of duplicating it. A new account is stored
with its encrypted refresh token and no access token, in state `pending` (out of the pool); the
refresher fetches the first access token and usage and only then puts it in the pool.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Awaitable
from typing import Any, cast

import orjson

from shared.accounts.backups import Backups
from shared.accounts.device_flows import DeviceFlows
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
from shared.accounts.model import PENDING_REASON, Account, AccountState, AuthKind, mask_proxy_url
from shared.accounts.report import ImportReport
from shared.accounts.state import AccountStates
from shared.accounts.store import AccountStore
from shared.clientkeys import ClientKeys
from shared.crypto import SecretBox
from shared.jobs import enqueue_refresh
from shared.keys import Keys
from shared.redis_topology import StackRedis
from shared.runtime_settings import store_settings


class AccountOps:
    """Account operations bound to one Redis client, key prefix, secret box and (optional) arq pool.

    `arq_pool` is an `arq.connections.ArqRedis`; without it nothing is enqueued and new accounts wait
    for the refresher's next periodic run.
    """

    def __init__(self, client: StackRedis, keys: Keys, box: SecretBox, arq_pool: Any = None) -> None:
        self.client = client
        self.keys = keys
        self.box = box
        self.store = AccountStore(client, keys, box)
        self.states = AccountStates(client, keys)
        self.arq_pool = arq_pool
        self.backups = Backups(self)
        self.device_flows = DeviceFlows(self)

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
        if await self.store.create(self.new_account(account_id, spec)):
            report.added.append(account_id)
            await self.request_refresh(account_id, reason="added")
        else:  # created concurrently by another import of the same credential
            report.updated.append(account_id)
        return report

    def new_account(self, account_id: str, spec: AccountSpec) -> Account:
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


async def _hgetall(client: StackRedis, key: str) -> dict[str, str]:
    return await cast(Awaitable[dict[str, str]], client.hgetall(key))


def parse_json_bytes(raw: bytes | str) -> Any:
    """Parse a JSON document given to an import (raises ImportFormatError on bad JSON)."""
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise ImportFormatError(f"not valid JSON: {exc}") from exc

"""Export and restore every account: an encrypted backup (`backup.py` seals and opens it)."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

from shared.accounts.backup import open_backup, seal_backup
from shared.accounts.model import PENDING_REASON, Account, AccountState, AuthKind
from shared.accounts.report import ImportReport
from shared.kiro.regions import check_region, profile_arn_region

if TYPE_CHECKING:
    from shared.accounts.ops import AccountOps


class Backups:
    """Export and restore for one `AccountOps` (its store, secret box and refresh queue)."""

    def __init__(self, ops: AccountOps) -> None:
        self._ops = ops
        self.store = ops.store
        self.box = ops.box

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
                await self._ops.request_refresh(account.id, reason="restored")
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

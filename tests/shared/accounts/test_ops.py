"""AccountOps: idempotent adds and imports, encrypted export/restore, enable/disable, delete."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import redis.asyncio as aioredis
from cryptography.fernet import Fernet

from shared.accounts.importers import ImportFormatError
from shared.accounts.model import AccountState, AuthKind
from shared.accounts.ops import AccountOps
from shared.crypto import SecretBox
from shared.keys import Keys

SAMPLE = Path(__file__).with_name("data") / "kiro_go_config.json"


async def test_added_account_waits_out_of_the_pool_with_only_encrypted_secrets(
    ops: AccountOps, redis: aioredis.Redis, keys: Keys
) -> None:
    report = await ops.add_refresh_token(
        "idc", "aorRefreshTokenForTest0001", client_id="cid", client_secret="csecret-plain", label="one"
    )
    assert report.updated == [] and report.skipped == []
    (account_id,) = report.added
    account = await ops.store.get(account_id)
    assert account is not None
    assert account.state is AccountState.PENDING
    assert account.auth_kind is AuthKind.IDC
    assert account.access_token_enc == ""
    assert ops.store.refresh_token(account) == "aorRefreshTokenForTest0001"
    assert ops.store.client_secret(account) == "csecret-plain"
    assert await redis.zscore(keys.pool(), account_id) is None
    raw = await redis.hgetall(keys.account(account_id))
    assert not any("aorRefreshTokenForTest0001" in v or "csecret-plain" in v for v in raw.values())


async def test_adding_the_same_refresh_token_twice_updates_instead_of_duplicating(ops: AccountOps) -> None:
    first = await ops.add_refresh_token("social", "aorRefreshTokenForTest0001", label="a")
    second = await ops.add_refresh_token("social", "aorRefreshTokenForTest0001", label="b")
    assert second.added == [] and second.updated == first.added
    listing = await ops.store.list()
    assert [(a.id, a.label) for a in listing.accounts] == [(first.added[0], "b")]


async def test_idc_without_client_credentials_is_skipped_with_a_reason(ops: AccountOps) -> None:
    report = await ops.add_refresh_token("idc", "aorRefreshTokenForTest0001", label="no-client")
    assert report.added == []
    assert report.skipped == [{"entry": "no-client", "reason": "idc login needs clientId and clientSecret"}]


async def test_kiro_go_import_is_idempotent_and_reports_malformed_entries(ops: AccountOps) -> None:
    config = json.loads(SAMPLE.read_text())

    first = await ops.import_kiro_go(config)
    second = await ops.import_kiro_go(config)

    assert len(first.added) == 3 and first.updated == []
    assert len(first.skipped) == 4
    assert second.added == [] and sorted(second.updated) == sorted(first.added)
    listing = await ops.store.list()
    assert len(listing.accounts) == 3
    carol = next(a for a in listing.accounts if a.label == "carol-idc-eu")
    assert carol.enabled is False and carol.subscription_title == "KIRO PRO+"
    assert all(a.source == "import:kiro-go" for a in listing.accounts)


async def test_import_of_something_else_is_refused_as_a_whole(ops: AccountOps) -> None:
    with pytest.raises(ImportFormatError):
        await ops.import_any({"hello": "world"})


async def test_refresh_token_list_import_adds_social_accounts(ops: AccountOps) -> None:
    report = await ops.import_any(
        {"refresh_tokens": ["aorTokenNumberOne0000001", "aorTokenNumberTwo0000002"]}
    )
    assert len(report.added) == 2
    listing = await ops.store.list()
    assert {a.auth_kind for a in listing.accounts} == {AuthKind.SOCIAL}


async def test_export_restores_into_an_empty_stack_with_the_same_key(
    ops: AccountOps, redis: aioredis.Redis, box: SecretBox
) -> None:
    config = json.loads(SAMPLE.read_text())
    added = (await ops.import_kiro_go(config)).added
    backup = await ops.backups.export()
    # every secret of the sample, whole (a short prefix such as "aor" also turns up in random base64)
    secrets = [
        entry[field]
        for entry in config["accounts"]
        if isinstance(entry, dict)
        for field in ("refreshToken", "accessToken", "clientSecret")
        if isinstance(entry.get(field), str) and len(entry[field]) >= 8
    ]
    assert any("kirogo-alice-secret" in secret for secret in secrets)
    dumped = json.dumps(backup)
    assert not [secret for secret in secrets if secret in dumped]

    other = AccountOps(redis, Keys(ops.keys.prefix + "restored:"), box)
    report = await other.backups.restore(backup)

    assert sorted(report.added) == sorted(added)
    restored = {a.label: a for a in (await other.store.list()).accounts}
    alice = restored["alice-builder"]
    assert other.store.refresh_token(alice) == "aorAAAAAGm-kirogo-alice-refresh-0001"
    assert alice.state is AccountState.PENDING
    again = await other.backups.restore(backup)
    assert again.added == [] and len(again.skipped) == 3


async def test_passphrase_backup_opens_under_another_stack_key_only_with_the_passphrase(
    ops: AccountOps, redis: aioredis.Redis
) -> None:
    await ops.add_refresh_token("social", "aorRefreshTokenForTest0001")
    backup = await ops.backups.export(passphrase="correct horse")
    other = AccountOps(redis, Keys(ops.keys.prefix + "other:"), SecretBox(Fernet.generate_key().decode()))
    with pytest.raises(ImportFormatError, match="passphrase"):
        await other.backups.restore(backup)
    with pytest.raises(ImportFormatError, match="does not open"):
        await other.backups.restore(backup, "wrong")
    report = await other.backups.restore(backup, "correct horse")
    assert len(report.added) == 1


async def test_disable_removes_from_the_pool_and_enable_puts_a_usable_account_back(
    ops: AccountOps, redis: aioredis.Redis, keys: Keys
) -> None:
    (account_id,) = (await ops.add_refresh_token("social", "aorRefreshTokenForTest0001")).added
    await ops.states.activate(account_id)
    assert await redis.zscore(keys.pool(), account_id) == 0

    disabled = await ops.set_enabled(account_id, False)
    assert disabled is not None and disabled.state is AccountState.DISABLED
    assert await redis.zscore(keys.pool(), account_id) is None

    enabled = await ops.set_enabled(account_id, True)
    # no access token yet: it waits for the refresher instead of entering the pool unusable
    assert enabled is not None and enabled.state is AccountState.PENDING
    assert await redis.zscore(keys.pool(), account_id) is None


async def test_delete_publishes_a_notice_and_removes_everything(
    ops: AccountOps, redis: aioredis.Redis, keys: Keys
) -> None:
    (account_id,) = (await ops.add_refresh_token("social", "aorRefreshTokenForTest0001")).added
    pubsub = redis.pubsub()
    await pubsub.subscribe(keys.events())
    await pubsub.get_message(timeout=1)
    assert await ops.delete(account_id)
    message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=2)
    await pubsub.aclose()
    assert message is not None
    assert json.loads(message["data"]) == {"type": "account_deleted", "account_id": account_id}
    assert await ops.store.get(account_id) is None
    assert not await ops.delete(account_id)

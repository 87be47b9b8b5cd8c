"""Every way a region enters the account store refuses one that is not an AWS region name, with a clear
reason; a bad one stored by an older version is flagged (never dropped, never used)."""

from __future__ import annotations

import json
from typing import Any

import pytest
import redis.asyncio as aioredis

from shared.accounts.backup import open_backup, seal_backup
from shared.accounts.importers import ImportFormatError
from shared.accounts.model import Account
from shared.accounts.ops import AccountOps
from shared.accounts.store import AccountStore, MalformedAccountError
from shared.keys import Keys
from tests.support.accounts import put_account

CRAFTED = "x@127.0.0.1:8443/#"
CRAFTED_ARN = f"arn:aws:codewhisperer:{CRAFTED}:111122223333:profile/P"


def kiro_go(entry: dict[str, Any]) -> dict[str, Any]:
    return {"accounts": [{"refreshToken": "aor-region-test-token-1", "authMethod": "social", **entry}]}


@pytest.mark.parametrize("entry", [{"region": CRAFTED}, {"region": "US-EAST-1"}])
async def test_kiro_go_entries_with_a_bad_region_are_skipped_with_the_reason(
    ops: AccountOps, store: AccountStore, entry: dict[str, Any]
) -> None:
    report = await ops.import_kiro_go(kiro_go({"nickname": "crafted", **entry}))
    assert report.added == [] and report.updated == []
    assert report.skipped[0]["entry"] == "crafted"
    assert "not an AWS region" in report.skipped[0]["reason"]
    assert await store.ids() == []


@pytest.mark.parametrize("fields", [{"region": CRAFTED}, {"profileArn": CRAFTED_ARN}])
async def test_a_kiro_auth_token_file_with_a_bad_region_is_refused(
    ops: AccountOps, store: AccountStore, fields: dict[str, str]
) -> None:
    token_file = {"refreshToken": "aor-region-test-token-2", "authMethod": "social", **fields}
    with pytest.raises(ImportFormatError, match="not an AWS region"):
        await ops.add_kiro_auth_token(token_file)
    assert await store.ids() == []


@pytest.mark.parametrize(
    ("token", "state"),
    [
        ({"refresh_token": "aor-cli-token-0001", "region": CRAFTED}, {}),
        (
            {"refresh_token": "aor-cli-token-0002"},
            {"api.codewhisperer.profile": json.dumps({"arn": CRAFTED_ARN})},
        ),
    ],
)
async def test_a_kiro_cli_login_with_a_bad_region_is_refused(
    ops: AccountOps, store: AccountStore, token: dict[str, str], state: dict[str, str]
) -> None:
    with pytest.raises(ImportFormatError, match="not an AWS region"):
        await ops.add_kiro_cli({"kirocli:social:token": json.dumps(token)}, state)
    assert await store.ids() == []


async def test_added_logins_restores_and_edits_refuse_a_bad_region(
    ops: AccountOps, store: AccountStore
) -> None:
    report = await ops.add_refresh_token("social", "aor-region-test-token-3", auth_region=CRAFTED)
    assert "not an AWS region" in report.skipped[0]["reason"]

    (account_id,) = (await ops.add_refresh_token("social", "aor-region-test-token-4")).added
    with pytest.raises(ValueError, match="not an AWS region"):
        await ops.update(account_id, {"api_region": CRAFTED})

    backup = await ops.backups.export()
    await ops.delete(account_id)
    # a backup is sealed, so a crafted one would have to be built with the key; open, edit, reseal
    records = open_backup(backup, ops.box, None)
    records[0]["auth_region"] = CRAFTED
    report = await ops.backups.restore(seal_backup(records, ops.box, None))
    assert report.added == [] and "not an AWS region" in report.skipped[0]["reason"]


async def test_a_bad_region_stored_by_an_older_version_is_flagged_not_dropped(
    store: AccountStore, redis: aioredis.Redis, keys: Keys
) -> None:
    for account_id, field, value in (("r1", "auth_region", CRAFTED), ("r2", "profile_arn", CRAFTED_ARN)):
        await put_account(redis, keys, Account(id=account_id).to_redis() | {field: value})
        with pytest.raises(MalformedAccountError, match=field):
            await store.get(account_id)
    listing = await store.list()
    assert listing.accounts == []
    assert {i.id for i in listing.invalid} == {"r1", "r2"}
    assert all("not an AWS region" in i.reason for i in listing.invalid)

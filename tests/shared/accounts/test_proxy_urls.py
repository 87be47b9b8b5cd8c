"""Per-account proxy URLs carry credentials: stored encrypted, shown masked, never lost (old plain records,
backups, the panel sending the masked value back)."""

from __future__ import annotations

import pytest
import redis.asyncio as aioredis

from shared.accounts.model import Account, mask_proxy_url
from shared.accounts.ops import AccountOps
from shared.accounts.store import AccountStore
from shared.keys import Keys

PROXY = "http://proxy-user:pr0xy-s3cret@127.0.0.1:3128"
MASKED = "http://proxy-user:****@127.0.0.1:3128"


async def stored_text(redis: aioredis.Redis, keys: Keys, account_id: str) -> str:
    return " ".join((await redis.hgetall(keys.account(account_id))).values())


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        (PROXY, MASKED),
        ("socks5://127.0.0.1:1080", "socks5://127.0.0.1:1080"),
        ("http://only-a-token@proxy.example:8080", "http://****@proxy.example:8080"),
        ("http://u:p@[::1]:3128", "http://u:****@[::1]:3128"),
        ("http://u:p@host:notaport", "****"),
        ("", ""),
    ],
)
def test_masked_proxy_url_never_shows_the_password(url: str, shown: str) -> None:
    assert mask_proxy_url(url) == shown


async def test_added_and_edited_proxy_urls_are_stored_encrypted_and_shown_masked(
    ops: AccountOps, store: AccountStore, redis: aioredis.Redis, keys: Keys
) -> None:
    (account_id,) = (await ops.add_refresh_token("social", "rt-proxy-1", proxy_url=PROXY)).added
    assert "pr0xy-s3cret" not in await stored_text(redis, keys, account_id)
    account = await store.get(account_id)
    assert account is not None
    assert store.proxy_url(account) == PROXY
    view = store.public_view(account)
    assert view["proxy_url"] == MASKED
    assert "pr0xy-s3cret" not in str(view) and "proxy_url_enc" not in view
    assert "pr0xy-s3cret" not in str(account.public_view())

    other = "socks5://u2:an0ther-s3cret@127.0.0.1:1080"
    account = await ops.update(account_id, {"proxy_url": other})
    assert account is not None and store.proxy_url(account) == other
    assert "an0ther-s3cret" not in await stored_text(redis, keys, account_id)

    # the panel's edit form sends back the masked value it was shown: the stored URL stays
    account = await ops.update(account_id, {"proxy_url": mask_proxy_url(other), "label": "renamed"})
    assert account is not None and store.proxy_url(account) == other and account.label == "renamed"

    account = await ops.update(account_id, {"proxy_url": ""})
    assert account is not None and store.proxy_url(account) == ""


async def test_a_plain_proxy_url_stored_before_encryption_keeps_working_and_is_encrypted(
    store: AccountStore, redis: aioredis.Redis, keys: Keys
) -> None:
    # a record as older versions wrote it: the proxy URL in plain text
    await redis.hset(keys.account("legacy"), mapping=Account(id="legacy").to_redis() | {"proxy_url": PROXY})
    await redis.sadd(keys.accounts(), "legacy")
    account = await store.get("legacy")
    assert account is not None and store.proxy_url(account) == PROXY
    assert store.public_view(account)["proxy_url"] == MASKED

    assert await store.encrypt_plain_proxy_urls() == 1
    assert "pr0xy-s3cret" not in await stored_text(redis, keys, "legacy")
    account = await store.get("legacy")
    assert account is not None and store.proxy_url(account) == PROXY
    assert await store.encrypt_plain_proxy_urls() == 0


async def test_backup_keeps_the_proxy_url_sealed_and_restores_it(
    ops: AccountOps, store: AccountStore, redis: aioredis.Redis, keys: Keys
) -> None:
    (account_id,) = (await ops.add_refresh_token("social", "rt-proxy-2", proxy_url=PROXY)).added
    backup = await ops.backups.export()
    assert "pr0xy-s3cret" not in str(backup)
    await ops.delete(account_id)

    report = await ops.backups.restore(backup)
    assert report.added == [account_id]
    account = await store.get(account_id)
    assert account is not None and store.proxy_url(account) == PROXY
    assert "pr0xy-s3cret" not in await stored_text(redis, keys, account_id)
